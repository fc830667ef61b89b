// Runs one slice of an operation on one backend: plans the requests, drives the overlapped
// (sliding window) or sequential (lock-step windows) schedule, honours single_submit, checks
// every completion, resumes short transfers and retries EINTR/EAGAIN. Memory the backend cannot
// use as is (misaligned host memory, device memory) moves through a ring of staging chunks.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "swapio/buffer.hpp"
#include "swapio/config.hpp"
#include "swapio/device.hpp"
#include "swapio/detail/backend.hpp"
#include "swapio/file.hpp"

namespace swapio::detail {

class HostCopyStream;

struct SliceStats {
  std::uint64_t bytes = 0;
  std::uint64_t requests = 0;
  std::uint64_t resubmits = 0;
  std::uint64_t submit_ns = 0;
  std::uint64_t reap_ns = 0;
  bool staged = false;
  std::vector<std::uint64_t> latencies_ns;
};

// Throws ConfigError when direct I/O is on for file and block_size breaks its alignment.
void check_block_alignment(const Config& config, const File& file);

// A worker: one backend (one ring) and the staging memory it reuses across slices.
// Not thread-safe: one thread drives one Worker.
class Worker {
 public:
  // Throws swapio::Error when the configured engine cannot start.
  explicit Worker(const Config& config);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  const Backend& backend() const noexcept { return *backend_; }
  // Why auto chose psync, or features the kernel refused ("" when none).
  std::string engine_note() const;

  // Moves [offset, offset+length) of file to/from memory at buf: host memory, or device memory
  // of `device` when it is not null. Throws swapio::Error naming path, offset, length and
  // errno. When *cancel turns true, stops issuing and drains.
  SliceStats run(const File& file, bool write, std::byte* buf, std::uint64_t offset,
                 std::uint64_t length, const std::atomic<bool>* cancel = nullptr, Device* device = nullptr);

 private:
  // Staging memory of at least `bytes`, registered with `device` when there is one.
  std::byte* staging(std::size_t bytes, Device* device);
  DeviceStream& stream_for(Device& device);
  void release_device() noexcept;

  Config config_;
  std::unique_ptr<Backend> backend_;
  std::string fallback_note_;
  bool broken_ = false;  // the backend could not be drained after an error
  HostBuffer staging_;
  // The device the staging memory is registered with and this thread's stream on it.
  std::shared_ptr<Device> device_;
  std::unique_ptr<DeviceStream> stream_;
  bool staging_registered_ = false;
  // Copies for staged host memory, on a thread of their own (started when first needed).
  std::unique_ptr<HostCopyStream> host_copy_;
};

}  // namespace swapio::detail
