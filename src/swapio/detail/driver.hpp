// The driver seam under Device: the few CUDA runtime calls the GPU path makes, with CUDA's
// semantics, implemented by CUDA's runtime (cuda_driver.cpp) and by the host emulation
// (emulated_driver.cpp). Everything the GPU path decides (which device is current, what a stream
// is ordered after, which events block, what a pointer is, what is cached) lives above it (device,
// device_pointers, driver_stream, staging_cache), so the emulation exercises the code a GPU runs.
//
// Calls act on the calling thread's current device where CUDA's do (allocate, create_stream,
// create_event, copies, records). Failures throw swapio::Error (EIO) with the driver's error name;
// a sticky error also marks the device lost.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "swapio/buffer.hpp"
#include "swapio/device.hpp"

namespace swapio::detail {

class Driver;

// Registered host memory kept for reuse by a driver's devices: registration pins and maps pages
// and costs far more than the copies of a small op, so a ring is registered once per process
// (portable: any device of the driver may use it), lent per op, and kept while unused up to
// kKeepBytes. Sizes are powers of two from 2 MiB.
class StagingCache {
 public:
  static constexpr std::size_t kKeepBytes = std::size_t{1} << 30;

  // A registered buffer of at least `bytes` (its size in *size), registering one when none fits.
  std::byte* take(Driver& driver, int ordinal, std::size_t bytes, std::size_t* size);
  void give_back(Driver& driver, std::byte* data) noexcept;
  std::size_t cached_bytes() const;
  // Unregisters and frees every buffer not lent now.
  void trim(Driver& driver) noexcept;

 private:
  mutable std::mutex mutex_;
  std::vector<HostBuffer> free_;  // registered, unused
  std::vector<HostBuffer> lent_;
  std::size_t cached_ = 0;
};

class Driver : public std::enable_shared_from_this<Driver> {
 public:
  StagingCache staging;

  using Stream = void*;  // null: the legacy default stream
  using Event = void*;

  virtual ~Driver() = default;

  virtual std::string device_name(int ordinal) const = 0;
  virtual int device_count(std::string* why_none) = 0;
  virtual int current_device() = 0;
  virtual void set_current_device(int ordinal) = 0;

  virtual void* allocate(std::size_t bytes) = 0;
  virtual void free(void* data) noexcept = 0;
  // Portable registration: DMA-able for every device of the driver.
  virtual void register_host(void* host, std::size_t bytes) = 0;
  virtual void unregister_host(void* host) noexcept = 0;

  // A non-blocking stream (it does not wait for the legacy default stream).
  virtual Stream create_stream() = 0;
  virtual void destroy_stream(Stream stream) noexcept = 0;
  virtual void copy_async(void* dst, const void* src, std::size_t bytes, bool to_device, Stream stream) = 0;
  // blocking_sync: synchronize() sleeps instead of spinning (cudaEventBlockingSync).
  virtual Event create_event(bool blocking_sync) = 0;
  virtual void destroy_event(Event event) noexcept = 0;
  virtual void record(Event event, Stream stream) = 0;
  virtual bool query(Event event) = 0;
  virtual void synchronize(Event event) = 0;
  // Work queued on `stream` from now on waits for `event`'s last record.
  virtual void stream_wait(Stream stream, Event event) = 0;
  virtual void synchronize_stream(Stream stream) noexcept = 0;

  // Attributes of an address (cudaPointerGetAttributes) and, for device memory, the allocation
  // that holds it (cuMemGetAddressRange).
  virtual PointerInfo pointer_info(const void* address) = 0;

  // Why device `ordinal` is lost (a sticky error), or "" while it works.
  virtual std::string lost(int ordinal) const = 0;
};

// A point in a stream's queue; the event is destroyed with the fence.
struct Fence {
  Fence(std::shared_ptr<Driver> d, Driver::Event e, int o) noexcept : driver(std::move(d)), event(e), ordinal(o) {}
  ~Fence() { driver->destroy_event(event); }
  Fence(const Fence&) = delete;
  Fence& operator=(const Fence&) = delete;

  std::shared_ptr<Driver> driver;
  Driver::Event event;
  int ordinal;
};

// The calling thread's current device set to `ordinal` for the guard's life, and restored
// after (as KvikIO pushes and pops the context).
class CurrentDevice {
 public:
  CurrentDevice(Driver& driver, int ordinal)
      : driver_(driver), previous_(driver.current_device()), changed_(previous_ != ordinal) {
    if (changed_) driver_.set_current_device(ordinal);
  }
  ~CurrentDevice() {
    if (changed_) {
      try {
        driver_.set_current_device(previous_);
      } catch (...) {  // restoring a device that worked before cannot fail but on a lost context
      }
    }
  }
  CurrentDevice(const CurrentDevice&) = delete;
  CurrentDevice& operator=(const CurrentDevice&) = delete;

 private:
  Driver& driver_;
  int previous_;
  bool changed_;
};

// Why a build has no CUDA.
inline constexpr const char* kNoCudaBuild = "this build has no CUDA support (no CUDA Toolkit was found when it was built)";

// CUDA's runtime, one per process (never destroyed: the runtime tears itself down at exit).
// Throws ConfigError in a build without CUDA.
std::shared_ptr<Driver> cuda_driver();
bool cuda_built() noexcept;

// The emulated device whose memory holds `address`, among every live emulation of the process
// (null when none), with what its driver says about the address.
std::shared_ptr<Device> emulated_device_holding(const void* address, PointerInfo* info);
// The host bytes behind [address, address+bytes) of one emulated allocation, among every live
// emulation of the process; null when no allocation holds the whole range.
void* emulated_host_bytes(const void* address, std::size_t bytes);

}  // namespace swapio::detail
