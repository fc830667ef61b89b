// GPUDirect Storage (GDS): whether this machine has it, and registration of device memory with
// cuFile. Ops use GDS by the `gds` knob (auto|on|off, Config::gds); see README's "GPUDirect
// Storage" for how auto decides.
#pragma once

#include <string>

#include "swapio/device.hpp"

namespace swapio {

struct GdsInfo {
  bool loaded = false;  // libcufile loaded, with every entry point swapio calls
  std::string library;  // its name: SWAPIO_CUFILE_LIBRARY, else libcufile.so.0
  int version = 0;      // cuFile's version (1150: 1.15), 0 where the library does not say
  bool nvidia_fs = false;  // the nvidia-fs module is loaded (else cuFile runs in compat mode)
  std::string why_not;     // why the library is not loaded
};

// Loads the library when first asked (it does not open cuFile's driver).
GdsInfo gds_info();
// One line: "cuFile 1.15 (libcufile.so.0), nvidia-fs loaded", "cuFile 1.15 (libcufile.so.0),
// nvidia-fs not loaded: compat mode", or "no: libcufile.so.0 not found".
std::string gds_summary();

// Why ops on the memory of an emulated device (`emulated`) or a CUDA device cannot use GDS on
// this machine, whatever the file ("libcufile.so.0 not found", "cuFileDriverOpen failed: ...");
// "" when they can (in compat mode, perhaps). Opens cuFile's driver.
std::string gds_unavailable(bool emulated);

// Registers device memory with cuFile (cuFileBufRegister), so that GDS ops on it skip cuFile's
// own bounce buffers, until gds_deregister; the memory must stay allocated until then. Throws
// ConfigError naming why GDS is unavailable, swapio::Error with cuFile's error (already
// registered, not device memory).
void gds_register(const DeviceSpan& span);
// Throws swapio::Error with cuFile's error (not registered).
void gds_deregister(const DeviceSpan& span);
// Buffers registered now (by gds_register, and swapio's own allocations used with GDS).
std::size_t gds_registered_buffers();

}  // namespace swapio
