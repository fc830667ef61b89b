// Device memory (a GPU's) as the source or destination of a transfer. The engine never touches
// device memory itself: it moves the file's bytes through a bounded ring of pinned host chunks
// per worker thread and has the device copy each chunk in or out on a stream of its own, so the
// copies overlap the I/O.
//
// Two implementations of the Device seam: CUDA (when the build found the CUDA Toolkit) and a
// host emulation whose "device" memory the host cannot read or write (so a transfer that touches
// it directly fails at once) and whose copies run late, on the device's own thread, after an
// optional random delay (so a chunk reused before its copy finished shows as wrong bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace swapio {

class Device;

// A range of device memory. The device must outlive the transfers that use the span.
struct DeviceSpan {
  Device* device = nullptr;
  std::byte* data = nullptr;  // a device address: never dereferenced on the host
  std::size_t size = 0;

  DeviceSpan subspan(std::size_t offset, std::size_t count) const noexcept {
    return {device, data + offset, count};
  }
};

// One in-order queue of copies between host and device memory, driven by one thread.
// Tickets name the point after every copy enqueued before record(); they grow by one.
class DeviceStream {
 public:
  virtual ~DeviceStream() = default;
  virtual void copy_to_device(std::byte* device, const std::byte* host, std::size_t bytes) = 0;
  virtual void copy_to_host(std::byte* host, const std::byte* device, std::size_t bytes) = 0;
  virtual std::uint64_t record() = 0;
  // Whether every copy before `ticket` is done. Throws swapio::Error when one failed.
  virtual bool done(std::uint64_t ticket) = 0;
  // Blocks until every copy before `ticket` is done. Throws swapio::Error when one failed.
  virtual void wait(std::uint64_t ticket) = 0;
  // Blocks until every enqueued copy is done, ignoring failures. Never throws.
  virtual void drain() noexcept = 0;
};

class Device : public std::enable_shared_from_this<Device> {
 public:
  virtual ~Device() = default;

  // "cuda:0", "emulated".
  virtual std::string name() const = 0;
  // Device memory; throws swapio::Error naming the size when the device refuses.
  virtual std::byte* allocate(std::size_t bytes) = 0;
  virtual void deallocate(std::byte* data) noexcept = 0;
  // Page-locks host memory for DMA to and from the device (cudaHostRegister). The emulation
  // only checks the range. Throws swapio::Error.
  virtual void register_host(std::byte* host, std::size_t bytes) = 0;
  virtual void unregister_host(std::byte* host) noexcept = 0;
  // A stream for the calling thread's transfers. Throws swapio::Error.
  virtual std::unique_ptr<DeviceStream> create_stream() = 0;

  // Blocking copies, for setting up and checking tensors.
  void copy_to_device(DeviceSpan dst, const std::byte* host);
  void copy_to_host(std::byte* host, DeviceSpan src);
};

// A device's name: "cuda" (the first CUDA device, cuda:0), "cuda:N", or "emulated" (the host
// emulation).
struct DeviceSpec {
  bool emulated = false;
  int index = 0;  // the CUDA device

  std::string str() const { return emulated ? "emulated" : "cuda:" + std::to_string(index); }
};
// Throws ConfigError "'tpu' is not cuda, cuda:N or emulated" (N a whole decimal number).
DeviceSpec parse_device_spec(std::string_view spec);

// Opens a device by its spec (the emulation with no delays). Throws ConfigError for an unknown spec, for "cuda" in a build without CUDA,
// and where no CUDA device is visible (naming the driver's reason).
std::shared_ptr<Device> open_device(std::string_view spec);
// Whether this build can drive CUDA devices (the CUDA Toolkit was found when it was built).
bool cuda_built() noexcept;
// The number of CUDA devices visible, and why none when 0 (the driver's message).
int cuda_device_count(std::string* why_none = nullptr);

struct EmulatedDeviceOptions {
  // Each copy waits a random time in [min_delay_us, max_delay_us] before it runs.
  std::uint32_t min_delay_us = 0;
  std::uint32_t max_delay_us = 0;
  std::uint64_t seed = 1;
};

// The host emulation, with controls for tests.
class EmulatedDevice : public Device {
 public:
  // Copies wait while the device is held (hold() returns at once; release() lets them run).
  // Freeing device memory waits for the copies queued before it: release a held device first.
  virtual void hold() = 0;
  virtual void release() = 0;
  // Copies run so far, bytes of device memory allocated now, and bytes of host memory
  // registered for DMA now (the pinned staging rings).
  virtual std::uint64_t copies() const = 0;
  virtual std::size_t allocated_bytes() const = 0;
  virtual std::size_t registered_bytes() const = 0;
  // Copies, bytes copied and seconds spent copying (delays excluded) so far.
  struct CopyStats {
    std::uint64_t copies = 0;
    std::uint64_t bytes = 0;
    double seconds = 0;
  };
  virtual CopyStats copy_stats() const = 0;
};

std::shared_ptr<EmulatedDevice> make_emulated_device(const EmulatedDeviceOptions& options = {});

// Device memory owned for its lifetime (it keeps its device alive).
class DeviceBuffer {
 public:
  DeviceBuffer() noexcept = default;
  DeviceBuffer(std::shared_ptr<Device> device, std::size_t bytes);
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();

  DeviceSpan span() const noexcept { return {device_.get(), data_, size_}; }
  std::size_t size() const noexcept { return size_; }
  Device& device() const noexcept { return *device_; }

 private:
  std::shared_ptr<Device> device_;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace swapio
