// The host emulation of a GPU (EmulatedDevice) and its options, for tests of the GPU path on
// machines without one. swapio/device.hpp includes it: include either.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "swapio/device.hpp"

namespace swapio {

struct EmulatedDeviceOptions {
  // Each copy waits a random time in [min_delay_us, max_delay_us] before it runs.
  std::uint32_t min_delay_us = 0;
  std::uint32_t max_delay_us = 0;
  std::uint64_t seed = 1;
};

// The host emulation of a GPU. Its memory is a PROT_NONE address range (host code that touches
// it faults, the kernel refuses I/O into it) with the bytes behind it in host memory, and it keeps
// the rules a real device enforces: copies run late, on the device's thread, after a random
// delay (a chunk reused early shows as wrong bytes); each thread has a current device, which
// allocations and streams use; caller streams run "kernels" that write device memory late (a
// transfer not ordered after them saves stale bytes); the driver answers pointer queries for
// every emulated device of the process; events wait blocking or spinning by their flags.
class EmulatedDevice : public Device {
 public:
  // Copies wait while the device is held (hold() returns at once; release() lets them run).
  // Freeing device memory waits for the copies queued before it: release a held device first.
  void hold();
  void release();
  // Copies run so far, bytes of device memory allocated now, and bytes of host memory
  // registered for DMA now (the staging cache's, with the driver's other devices).
  std::uint64_t copies() const;
  std::size_t allocated_bytes() const;
  std::size_t registered_bytes() const;
  // Copies, bytes copied and seconds spent copying (delays excluded) so far.
  struct CopyStats {
    std::uint64_t copies = 0;
    std::uint64_t bytes = 0;
    double seconds = 0;
  };
  CopyStats copy_stats() const;
  // Counters the driver keeps since it started (shared by its devices): host registrations,
  // streams created, waits that blocked and waits that spun, and copies to or from host memory
  // that was not registered (pageable).
  struct DriverCounters {
    std::uint64_t registrations = 0;
    std::uint64_t streams_created = 0;
    std::uint64_t blocking_waits = 0;
    std::uint64_t spinning_waits = 0;
    std::uint64_t pageable_copies = 0;
  };
  DriverCounters counters() const;

  // A caller's stream on this device (as a cudaStream_t), blocking (the legacy default stream
  // waits for it) or not; destroyed with the device.
  void* create_caller_stream(bool blocking = true);
  // A "kernel" on `stream` (null: the legacy default stream) that writes `bytes` into dst after
  // `delay_us` microseconds, in the stream's order.
  void launch_write(void* stream, DeviceSpan dst, std::vector<std::byte> bytes, std::uint32_t delay_us);
  // Blocks until the work queued on `stream` has run.
  void synchronize_caller_stream(void* stream);
  // A sticky error, as an illegal address in a kernel would leave: the device is lost.
  void lose(const std::string& why);

  // The calling thread's current emulated device (the ordinal), as cudaGetDevice/cudaSetDevice.
  static int current();
  static void make_current(int ordinal);

 protected:
  using Device::Device;
};

std::shared_ptr<EmulatedDevice> make_emulated_device(const EmulatedDeviceOptions& options = {});
// `count` emulated devices of one driver (ordinals 0..count-1, named emulated:N), as a machine
// with several GPUs: their memory is told apart by the same pointer queries.
std::vector<std::shared_ptr<EmulatedDevice>> make_emulated_devices(int count, const EmulatedDeviceOptions& options = {});

}  // namespace swapio
