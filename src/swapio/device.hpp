// Device memory (a GPU's) as the source or destination of a transfer. The engine never touches
// device memory itself: it moves the file's bytes through a bounded ring of pinned host chunks
// per worker thread and has the device copy each chunk in or out on a stream of its own, so the
// copies overlap the I/O.
//
// A Device is one GPU of a driver: CUDA's runtime (when the build found the CUDA Toolkit), or a
// host emulation of it that keeps CUDA's rules where a real device would show a mistake (see
// EmulatedDevice). Every rule below holds for both.
//
// Rules for callers:
// - Stream order. A transfer is ordered after the work queued, when it is called, on the stream
//   named by the span (DeviceSpan::stream, a cudaStream_t). With no stream named, it is ordered
//   after the device's legacy default stream, which waits for every blocking stream (PyTorch's
//   default stream is that one). Work on a non-blocking stream must be named, or it may still be
//   writing the tensor while swapio saves it. A read's bytes are in device memory when the op is
//   reported (the call returned, or wait()), so work queued after that sees them.
// - The calling thread's current device (cudaSetDevice) is the same after every swapio call as
//   before it.
// - A span must lie inside one allocation of its device (checked when the op is prepared:
//   ConfigError otherwise). Inside an allocation a caching allocator (PyTorch's) hands out, only
//   the caller knows where one tensor ends: pass its exact size.
// - A process that was forked after it used a device cannot use the GPU path (CUDA does not
//   survive fork()): start worker processes with spawn, or before any device is opened.
// - After a sticky error (an illegal address in some kernel, say) the device is lost for the
//   rest of the process; every later op says so.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace swapio {

class Device;

namespace detail {
class Driver;
struct Fence;
}  // namespace detail

// A range of device memory. The device must outlive the transfers that use the span.
struct DeviceSpan {
  Device* device = nullptr;
  std::byte* data = nullptr;  // a device address: never dereferenced on the host
  std::size_t size = 0;
  // The caller's stream (a cudaStream_t) whose queued work the transfer is ordered after; null:
  // the device's legacy default stream.
  void* stream = nullptr;

  DeviceSpan subspan(std::size_t offset, std::size_t count) const noexcept {
    return {device, data + offset, count, stream};
  }
};

// One in-order queue of copies between host and device memory, driven by one thread.
// Tickets name the point after every copy enqueued before record(); they grow by one.
class DeviceStream {
 public:
  virtual ~DeviceStream() = default;
  virtual void copy_to_device(std::byte* device, const std::byte* host, std::size_t bytes) = 0;
  virtual void copy_to_host(std::byte* host, const std::byte* device, std::size_t bytes) = 0;
  // Copies enqueued from now on start only after the work `fence` marks. Throws swapio::Error.
  virtual void order_after(const detail::Fence& fence) = 0;
  virtual std::uint64_t record() = 0;
  // Whether every copy before `ticket` is done. Throws swapio::Error when one failed.
  virtual bool done(std::uint64_t ticket) = 0;
  // Blocks (without spinning) until every copy before `ticket` is done. Throws swapio::Error
  // when one failed.
  virtual void wait(std::uint64_t ticket) = 0;
  // Blocks until every enqueued copy is done, ignoring failures. Never throws.
  virtual void drain() noexcept = 0;
};

// Registered (page-locked, DMA-able) host memory lent by a device's staging cache; it goes back
// to the cache when the lease ends.
class StagingLease {
 public:
  StagingLease() noexcept = default;
  StagingLease(StagingLease&& other) noexcept;
  StagingLease& operator=(StagingLease&& other) noexcept;
  StagingLease(const StagingLease&) = delete;
  StagingLease& operator=(const StagingLease&) = delete;
  ~StagingLease();

  std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  explicit operator bool() const noexcept { return data_ != nullptr; }

 private:
  friend class Device;
  std::shared_ptr<Device> device_;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// What the driver says about an address.
struct PointerInfo {
  enum class Kind { host, registered_host, device, managed };
  Kind kind = Kind::host;
  int device = -1;             // the device's ordinal (device and managed memory)
  std::uintptr_t base = 0;     // the allocation holding the address (device and managed memory)
  std::size_t size = 0;
};

class Device : public std::enable_shared_from_this<Device> {
 public:
  virtual ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // "cuda:0", "emulated" (or "emulated:N" among several).
  std::string name() const;
  int ordinal() const noexcept { return ordinal_; }
  // Device memory; throws swapio::Error naming the size when the device refuses.
  std::byte* allocate(std::size_t bytes);
  void deallocate(std::byte* data) noexcept;
  // Page-locks host memory for DMA to and from every device of the driver (cudaHostRegister,
  // portable), with this device current. Throws swapio::Error.
  void register_host(std::byte* host, std::size_t bytes);
  void unregister_host(std::byte* host) noexcept;
  // A stream for the calling thread's transfers (non-blocking, its events block instead of
  // spinning). Throws swapio::Error.
  std::unique_ptr<DeviceStream> create_stream();

  // A point in `stream`'s queue (null: the legacy default stream) that a DeviceStream can be
  // ordered after. Throws swapio::Error.
  std::shared_ptr<const detail::Fence> fence(void* stream);
  // What the driver says about `address`.
  PointerInfo pointer_info(const void* address);
  // Throws ConfigError unless `span` lies inside one allocation of this device's memory.
  void check_span(const DeviceSpan& span, const std::string& context = "");

  // Registered host memory of at least `bytes`, from a cache the driver's devices share (rings
  // registered once per process, not per op). Throws swapio::Error.
  StagingLease lease_staging(std::size_t bytes);
  // Bytes of registered host memory the cache holds unused now; trim_staging() frees them.
  std::size_t cached_staging_bytes() const;
  void trim_staging() noexcept;

  // Blocking copies, for setting up and checking tensors: on one stream of this device, through
  // a registered bounce buffer, after the work queued on dst.stream (src.stream). Throws
  // swapio::Error (ConfigError for a span outside the device's memory).
  void copy_to_device(DeviceSpan dst, const std::byte* host);
  void copy_to_host(std::byte* host, DeviceSpan src);

  detail::Driver& driver() const noexcept { return *driver_; }

 protected:
  Device(std::shared_ptr<detail::Driver> driver, int ordinal);

 private:
  friend class StagingLease;
  struct Copier;
  void give_back(std::byte* data) noexcept;
  // copy_to_device and copy_to_host (host is only read then).
  void setup_copy(bool to_device, DeviceSpan span, std::byte* host);
  // Throws when the process was forked after the driver started, or the device was lost.
  void usable() const;

  std::shared_ptr<detail::Driver> driver_;
  int ordinal_;
  std::unique_ptr<Copier> copier_;
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

// Opens a device by its spec: a CUDA device is one object per process and ordinal (its staging
// cache lives as long as the process); "emulated" is a new emulated device with no delays.
// Throws ConfigError for an unknown spec, for "cuda" in a build without CUDA, and where no CUDA
// device is visible (naming the driver's reason).
std::shared_ptr<Device> open_device(std::string_view spec);
// Whether this build can drive CUDA devices (the CUDA Toolkit was found when it was built).
bool cuda_built() noexcept;
// The number of CUDA devices visible, and why none when 0 (the driver's message).
int cuda_device_count(std::string* why_none = nullptr);

// Device memory a caller allocated (cudaMalloc, PyTorch's allocator), found by asking the drivers
// (CUDA's, then every live emulation) which device holds it: `device` keeps that device alive.
// Throws ConfigError for host memory, unknown addresses and a range that leaves its allocation.
struct WrappedDeviceMemory {
  std::shared_ptr<Device> device;
  DeviceSpan span;
};
WrappedDeviceMemory wrap_device_pointer(const void* address, std::size_t bytes, void* stream = nullptr);

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

// The host emulation (EmulatedDevice) has a header of its own; included here, so that whoever
// includes device.hpp keeps seeing it.
#include "swapio/emulated_device.hpp"  // IWYU pragma: export
