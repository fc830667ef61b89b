// Copies between host memory ranges that run in order on a thread of their own, behind the
// DeviceStream interface: the staging ring's copies to and from a caller's host memory (so they
// overlap the I/O as a GPU's DMA does), and the emulated device's DMA engine.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "swapio/device.hpp"

namespace swapio::detail {

class QueuedStream;

struct CopyQueueOptions {
  // Each copy waits a random time in [min_delay_us, max_delay_us] before it runs.
  std::uint32_t min_delay_us = 0;
  std::uint32_t max_delay_us = 0;
  std::uint64_t seed = 1;
};

class CopyQueue {
 public:
  explicit CopyQueue(const CopyQueueOptions& options = {});
  // Runs what is queued (a held queue is released), then stops the thread.
  ~CopyQueue();
  CopyQueue(const CopyQueue&) = delete;
  CopyQueue& operator=(const CopyQueue&) = delete;

  void copy(std::byte* dst, const std::byte* src, std::size_t bytes);
  // Runs fn on the queue's thread, in order with the copies (no delay: fn brings its own).
  void call(std::function<void()> fn);
  // Completes `ticket` of `stream` once every copy queued before it has run.
  void mark(QueuedStream& stream, std::uint64_t ticket);
  // Copies wait while the queue is held.
  void hold();
  void release();
  // Blocks until nothing is queued or running.
  void synchronize() noexcept;

  struct Stats {
    std::uint64_t copies = 0;
    std::uint64_t bytes = 0;
    double seconds = 0;  // copying, delays excluded
  };
  Stats stats() const;

 private:
  struct Command {
    QueuedStream* stream;  // a marker's; null for a copy
    std::byte* dst;
    const std::byte* src;
    std::size_t bytes;
    std::uint64_t ticket;
    std::function<void()> fn;  // a call's
  };

  void push(const Command& c);
  void serve();

  CopyQueueOptions options_;
  std::mt19937_64 rng_;  // only the queue's thread draws
  mutable std::mutex mutex_;
  std::condition_variable cv_, idle_cv_;
  std::deque<Command> queue_;
  bool held_ = false;
  bool stop_ = false;
  bool busy_ = false;
  Stats stats_;
  std::thread thread_;  // last: starts after every member above exists
};

// A DeviceStream whose copies run on a CopyQueue. `translate` maps a range of the stream's
// "device" memory to the host bytes behind it, or throws (`what`: "copy to" or "copy from");
// without it device memory is host memory.
class QueuedStream final : public DeviceStream {
 public:
  using Translate = std::function<std::byte*(const std::byte* device, std::size_t bytes, const char* what)>;

  explicit QueuedStream(std::shared_ptr<CopyQueue> queue, Translate translate = {});
  ~QueuedStream() override { drain(); }

  void copy_to_device(std::byte* device, const std::byte* host, std::size_t bytes) override;
  void copy_to_host(std::byte* host, const std::byte* device, std::size_t bytes) override;
  // Host memory has no streams to be ordered after.
  void order_after(const Fence&) override {}
  std::uint64_t record() override;
  bool done(std::uint64_t ticket) override;
  void wait(std::uint64_t ticket) override;
  void drain() noexcept override;

  // The queue's thread: every copy before `ticket` has run.
  void complete(std::uint64_t ticket);

 private:
  std::shared_ptr<CopyQueue> queue_;  // first: outlives the members the queue's thread touches
  Translate translate_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::uint64_t recorded_ = 0;  // only the owning thread records
  std::uint64_t completed_ = 0;
};

// A stream between staging memory and a caller's host memory, with a copy thread of its own.
std::unique_ptr<DeviceStream> make_host_copy_stream();

}  // namespace swapio::detail
