// The per-thread engine: one backend (one ring) and the staging memory and copy stream it reuses
// across slices. Runs one slice: plans it, moves the head, drives the body through a request
// window (and a staging ring when the memory needs one), moves the tail.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "swapio/buffer.hpp"
#include "swapio/config.hpp"
#include "swapio/detail/backend.hpp"
#include "swapio/detail/gds.hpp"
#include "swapio/detail/slice_stats.hpp"
#include "swapio/device.hpp"
#include "swapio/file.hpp"
#include "swapio/tensor.hpp"

namespace swapio::detail {

// Not thread-safe: one thread drives one SliceRunner.
class SliceRunner {
 public:
  // Throws swapio::Error when the configured engine cannot start.
  explicit SliceRunner(const Config& config);
  ~SliceRunner();
  SliceRunner(const SliceRunner&) = delete;
  SliceRunner& operator=(const SliceRunner&) = delete;

  const Backend& backend() const noexcept { return *backend_; }
  // Why auto chose another engine, or features the kernel refused ("" when none).
  std::string engine_note() const;

  // Moves [offset, offset+length) of file to/from memory at buf: host memory, or device memory
  // of `device` when it is not null, its copies ordered after `after` when given. Throws
  // swapio::Error naming path, offset, length and errno. When *cancel turns true, stops issuing
  // and drains. With `gds` (device memory only), the body goes by cuFile, the edges through
  // staging.
  SliceStats run(const File& file, Direction direction, std::byte* buf, std::uint64_t offset, std::uint64_t length,
                 const std::atomic<bool>* cancel = nullptr, Device* device = nullptr, const Fence* after = nullptr,
                 const GdsFile* gds = nullptr);

 private:
  // Staging memory of at least `bytes`: for device memory registered memory leased from the
  // device's cache (kept across slices and devices of one driver), else this runner's own.
  std::byte* staging(std::size_t bytes, Device* device);
  DeviceStream& stream_for(Device& device);
  void release_device() noexcept;

  Config config_;
  std::unique_ptr<Backend> backend_;
  std::string fallback_note_;
  bool broken_ = false;  // the backend could not be drained after an error
  HostBuffer staging_;  // for staged host memory
  // The device of the last device slice, this thread's stream on it, and the registered staging
  // leased from its driver's cache.
  std::shared_ptr<Device> device_;
  std::unique_ptr<DeviceStream> stream_;
  StagingLease lease_;
  // Copies for staged host memory, on a thread of their own (started when first needed).
  std::unique_ptr<DeviceStream> host_copy_;
};

}  // namespace swapio::detail
