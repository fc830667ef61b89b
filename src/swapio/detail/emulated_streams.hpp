// The emulated devices' streams and events: each device's copy queue (its DMA engine), its
// legacy default stream and its callers' streams, and events recorded as markers in them.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "swapio/buffer.hpp"
#include "swapio/detail/copy_queue.hpp"
#include "swapio/detail/driver.hpp"

namespace swapio::detail {

struct EmuEvent {
  bool blocking = true;
  std::mutex mutex;
  std::condition_variable cv;
  std::uint64_t recorded = 0;   // records issued
  std::uint64_t completed = 0;  // the latest record whose marker has run

  void complete(std::uint64_t gen) {
    std::lock_guard lock(mutex);
    completed = std::max(completed, gen);
    cv.notify_all();
  }
  bool reached(std::uint64_t gen) {
    std::lock_guard lock(mutex);
    return completed >= gen;
  }
  void block_until(std::uint64_t gen) {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return completed >= gen; });
  }
};

struct EmuStream {
  int ordinal = 0;
  std::shared_ptr<CopyQueue> queue;
  bool caller = false;    // a caller's (or the legacy default) stream: its own queue
  bool blocking = false;  // the legacy default stream waits for it
};

// The queues behind every stream of a driver's devices. Checks of which device is current and
// whether it works are the driver's: these calls take streams already resolved.
class EmulatedStreams {
 public:
  EmulatedStreams(int count, const EmulatedDeviceOptions& options);
  EmulatedStreams(const EmulatedStreams&) = delete;
  EmulatedStreams& operator=(const EmulatedStreams&) = delete;

  // Runs what every queue holds (a held DMA queue is released first).
  void drain() noexcept;

  CopyQueue& dma(int ordinal) { return *devices_[ordinal]->dma; }
  EmuStream& legacy(int ordinal) { return devices_[ordinal]->legacy; }

  // A stream of device `ordinal` on its DMA queue.
  Driver::Stream create(int ordinal);
  // As cudaStreamDestroy: returns at once; what was queued still runs (the commands hold what
  // they use, not the stream).
  void destroy(Driver::Stream stream) noexcept;
  // Any stream of any device, callers' included (not the legacy default); null when none.
  EmuStream* find(Driver::Stream stream);

  void* create_caller(int ordinal, bool blocking);
  // The caller's stream `stream` of device `ordinal` (null: its legacy default); null when
  // `stream` is not one.
  EmuStream* caller(int ordinal, void* stream);

  // Queues a copy; `keep` stays alive until it has run, whatever the caller frees.
  static void copy(EmuStream& s, std::byte* dst, const std::byte* src, std::size_t bytes,
                   std::shared_ptr<HostBuffer> keep);
  // A "kernel" that writes `bytes` at `target` after `delay_us`, in the stream's order.
  static void write_later(EmuStream& s, std::byte* target, std::shared_ptr<HostBuffer> keep,
                          std::vector<std::byte> bytes, std::uint32_t delay_us);

  static Driver::Event create_event(bool blocking_sync);
  static void destroy_event(Driver::Event event) noexcept;
  // `legacy_default`: s is the legacy default stream, which waits for every blocking caller
  // stream of its device first.
  void record(Driver::Event event, EmuStream& s, bool legacy_default);
  static bool query(Driver::Event event);
  void synchronize(Driver::Event event);
  static void wait(EmuStream& s, Driver::Event event);
  // Blocks until the work queued on `s` has run: synchronize_stream never throws (it waits for
  // the whole queue when no marker can be queued), synchronize_caller may.
  static void synchronize_stream(EmuStream& s) noexcept;
  static void synchronize_caller(EmuStream& s);

  std::uint64_t streams_created() const { return streams_created_.load(); }
  std::uint64_t blocking_waits() const { return blocking_waits_.load(); }
  std::uint64_t spinning_waits() const { return spinning_waits_.load(); }

 private:
  struct PerDevice {
    std::shared_ptr<CopyQueue> dma;
    EmuStream legacy;
    std::vector<std::unique_ptr<EmuStream>> callers;
  };

  std::vector<std::unique_ptr<PerDevice>> devices_;  // fixed after construction
  std::mutex mutex_;
  std::map<Driver::Stream, std::unique_ptr<EmuStream>> streams_;
  std::atomic<std::uint64_t> streams_created_{0}, blocking_waits_{0}, spinning_waits_{0};
};

}  // namespace swapio::detail
