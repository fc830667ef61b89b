// The request window of one slice's body: keeps up to queue_depth requests in flight on a
// backend with the overlapped (sliding window) or sequential (lock-step windows) schedule,
// honours single_submit, checks every completion, resumes short transfers and retries
// EINTR/EAGAIN. With a staging ring, requests start only when the ring lets them.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <vector>

#include "swapio/config.hpp"
#include "swapio/detail/backend.hpp"
#include "swapio/detail/plan.hpp"
#include "swapio/detail/slice_stats.hpp"
#include "swapio/detail/staging_ring.hpp"
#include "swapio/file.hpp"
#include "swapio/tensor.hpp"

namespace swapio::detail {

class RequestWindow {
 public:
  // buf: the slice's memory (used as is when ring is null). When *cancel turns true, stops
  // issuing and drains.
  RequestWindow(Backend& backend, const Config& config, const File& file, Direction direction, std::byte* buf,
                const Plan& plan, StagingRing* ring, const std::atomic<bool>* cancel, SliceStats& stats);

  // Runs the body to its end or its first error (then error() holds it). Returns false when the
  // backend could not be drained after an error: it must not be reused.
  bool run();
  std::exception_ptr error() const noexcept { return error_; }

 private:
  struct Slot {
    std::uint64_t index = 0;        // request index in the plan
    std::uint64_t file_offset = 0;  // where the request starts in the file
    std::byte* io = nullptr;        // where the backend moves its bytes (caller's memory or staging)
    std::uint32_t length = 0;
    std::uint32_t done = 0;         // bytes already moved (short transfers)
    unsigned transient = 0;         // EINTR/EAGAIN/zero-progress retries so far
    Clock::time_point start;
  };

  void loop();
  void check();
  bool failed() const noexcept { return error_ != nullptr; }
  bool cancelled() const noexcept { return cancel_ != nullptr && cancel_->load(std::memory_order_relaxed); }
  std::byte* user_of(std::uint64_t index) const noexcept { return buf_ + (plan_.request_offset(index) - plan_.offset); }
  void start(std::uint64_t index);
  void issue(unsigned s);
  void submit();
  void fail(const Slot& slot, int err, const char* detail = "");
  void finish(unsigned s);
  void finish_unaligned(unsigned s);
  void complete(const Completion& c);

  Backend& backend_;
  const Config& config_;
  const File& file_;
  Direction direction_;
  std::byte* buf_;
  const Plan& plan_;
  StagingRing* ring_;
  const std::atomic<bool>* cancel_;
  SliceStats& stats_;
  unsigned depth_;
  std::vector<Slot> slots_;
  std::vector<unsigned> free_;
  std::vector<unsigned> retry_;
  std::vector<Completion> completions_;
  std::uint64_t next_ = 0;
  std::uint64_t completed_ = 0;
  unsigned in_flight_ = 0;
  bool backend_ok_ = true;
  std::exception_ptr error_;
};

}  // namespace swapio::detail
