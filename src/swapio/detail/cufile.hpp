// libcufile (GPUDirect Storage) loaded at run time with dlopen, as KvikIO loads it: swapio links
// nothing of cuFile, so one binary runs where it is installed and where it is not, and says why
// GDS is unavailable. The library is loaded once per process and never unloaded; its driver is
// opened once, by the first op that asks for GDS, and closed at exit by the process that opened
// it (never by a forked child: cuFile, like CUDA, does not survive fork()).
#pragma once

#include <string>

#include "swapio/detail/cufile_api.hpp"

namespace swapio::detail {

struct CuFileLibrary {
  std::string name;       // as loaded: SWAPIO_CUFILE_LIBRARY, else libcufile.so.0
  int version = 0;        // cuFileGetVersion's (1150: 1.15), 0 where the library has none
  // A library that also reaches the host emulation's device memory (the tests' stand-in, which
  // exports swapio_cufile_standin_attach); NVIDIA's reaches CUDA memory only.
  bool reaches_emulation = false;
  cufile::DriverOpenFn driver_open = nullptr;
  cufile::DriverCloseFn driver_close = nullptr;
  cufile::HandleRegisterFn handle_register = nullptr;
  cufile::HandleDeregisterFn handle_deregister = nullptr;
  cufile::BufRegisterFn buf_register = nullptr;
  cufile::BufDeregisterFn buf_deregister = nullptr;
  cufile::ReadFn read = nullptr;
  cufile::WriteFn write = nullptr;
};

// The library's name: the environment's SWAPIO_CUFILE_LIBRARY (a path or a soname), else
// libcufile.so.0.
std::string cufile_library_name();
// The library, loaded on the first call; null with *why ("libcufile.so.0 not found",
// "libcufile.so.0 lacks cuFileRead") when it cannot be.
const CuFileLibrary* cufile_library(std::string* why);
// The library with its driver open (opened on the first call); null with *why when the library
// cannot be loaded, the driver refuses to open, or this process was forked after its parent
// opened it.
const CuFileLibrary* cufile_driver(std::string* why);
// Whether the nvidia-fs kernel module is loaded (/proc/driver/nvidia-fs; the environment's
// SWAPIO_NVIDIA_FS_PROC names another path). Without it cuFile runs in compat mode: POSIX I/O
// through its own host bounce buffers.
bool nvidia_fs_loaded();
// "CU_FILE_DIO_NOT_SET (5020): the descriptor is not open with O_DIRECT".
std::string cufile_error_text(int err);
// A cuFile call's failure as text: cuFile's error, and CUDA's code where cuFile names one.
std::string cufile_status_text(cufile::Error status);

}  // namespace swapio::detail
