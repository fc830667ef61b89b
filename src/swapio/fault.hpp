// Fault injection, for tests: a Config whose `faults` names a FaultInjector runs every request
// through a decorator of the real backend that, by the injector's rules, fails the k-th request
// with an errno, shortens it, answers EINTR/EAGAIN, delays its completion, or calls a function
// before it goes. The injector is shared by every worker thread of a Handle and counts the
// requests they prepare, in the order they prepare them, from 1.
#pragma once

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace swapio {

enum class FaultKind {
  error,      // the request fails with `error` and moves nothing (it never reaches the kernel)
  short_io,   // the request reports `keep` bytes moved (0: half, at a 4 KiB boundary when it can be);
              // a multiple of 4 KiB is really cut, any other amount runs whole and reports less
  transient,  // the request is answered with `error` (EINTR or EAGAIN) and moves nothing
  delay,      // the request runs; its completion is held back for `delay`
  call,       // `action` runs, then the request goes as it is
};

enum class FaultOp { any, read, write };

struct FaultRule {
  FaultKind kind = FaultKind::error;
  std::uint64_t first = 1;  // the first request it applies to (1-based, counted over matching `op`)
  std::uint64_t count = 1;  // consecutive requests from `first` (0: every one from `first` on)
  FaultOp op = FaultOp::any;
  int error = EIO;
  std::uint32_t keep = 0;
  std::chrono::microseconds delay{0};
  std::function<void()> action;
};

class FaultInjector {
 public:
  explicit FaultInjector(std::vector<FaultRule> rules) : rules_(std::move(rules)) {}

  // Requests seen, faults injected, and requests handed to a backend whose completion has been
  // neither delivered nor drained (0 whenever no operation is running).
  std::uint64_t requests() const noexcept { return requests_.load(); }
  std::uint64_t injected() const noexcept { return injected_.load(); }
  std::int64_t in_flight() const noexcept { return in_flight_.load(); }
  // Stops injecting; the counters go on.
  void disarm() noexcept { armed_.store(false); }

  // For the decorator: counts a request and returns the rule that applies to it, or null.
  const FaultRule* next(bool write) {
    std::lock_guard lock(mutex_);
    ++requests_;
    const std::uint64_t n = write ? ++writes_ : ++reads_;
    if (!armed_.load()) return nullptr;
    for (const FaultRule& r : rules_) {
      if (r.op == FaultOp::read && write) continue;
      if (r.op == FaultOp::write && !write) continue;
      const std::uint64_t k = r.op == FaultOp::any ? requests_.load() : n;
      if (k >= r.first && (r.count == 0 || k < r.first + r.count)) {
        ++injected_;
        return &r;
      }
    }
    return nullptr;
  }
  void track(std::int64_t delta) noexcept { in_flight_ += delta; }

 private:
  std::vector<FaultRule> rules_;
  std::mutex mutex_;
  std::atomic<std::uint64_t> requests_{0}, injected_{0};
  std::uint64_t reads_ = 0, writes_ = 0;
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<bool> armed_{true};
};

}  // namespace swapio
