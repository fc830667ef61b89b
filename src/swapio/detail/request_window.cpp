#include "swapio/detail/request_window.hpp"

#include <algorithm>
#include <cerrno>

#include "swapio/error.hpp"

namespace swapio::detail {
namespace {

// A transient result retried this many times on one request before it counts as an error.
constexpr unsigned kMaxTransientRetries = 64;

}  // namespace

RequestWindow::RequestWindow(Backend& backend, const Config& config, const File& file, Direction direction,
                             std::byte* buf, const Plan& plan, StagingRing* ring, const std::atomic<bool>* cancel,
                             SliceStats& stats)
    : backend_(backend), config_(config), file_(file), direction_(direction), buf_(buf), plan_(plan), ring_(ring),
      cancel_(cancel), stats_(stats),
      depth_(static_cast<unsigned>(std::min<std::uint64_t>(config.queue_depth, std::max<std::uint64_t>(plan.requests(), 1)))),
      slots_(depth_) {
  free_.reserve(depth_);
  for (unsigned i = depth_; i > 0; --i) free_.push_back(i - 1);
  retry_.reserve(depth_);
  completions_.resize(depth_);
}

bool RequestWindow::run() {
  try {
    loop();
    if (!error_ && ring_ != nullptr) ring_->finish();
  } catch (...) {
    // A submit, reap or copy call failed with requests in flight: never leave them behind.
    if (!error_) error_ = std::current_exception();
    if (!backend_.drain()) backend_ok_ = false;
    in_flight_ = 0;
  }
  if (ring_ != nullptr) ring_->drain();
  check();
  return backend_ok_;
}

void RequestWindow::loop() {
  const std::uint64_t total = plan_.requests();
  for (;;) {
    if (!failed() && !cancelled()) {
      if (ring_ != nullptr) ring_->poll();
      for (unsigned s : retry_) issue(s);
      retry_.clear();
      if (config_.overlap_events || in_flight_ == 0) {
        while (in_flight_ < depth_ && next_ < total && (ring_ == nullptr || ring_->ready(next_))) start(next_++);
      }
      if (!config_.single_submit) submit();
    } else if (!retry_.empty()) {
      for (unsigned s : retry_) free_.push_back(s);  // abandoned: an error is already recorded
      retry_.clear();
    }
    if (in_flight_ == 0) {
      if (failed() || cancelled() || next_ >= total) break;
      // Nothing in flight and the next request blocked: only a staging copy can unblock it.
      if (ring_ == nullptr) {
        throw_io_error(EIO, to_string(direction_), file_.name(), plan_.body_begin, plan_.body_length(),
                       "request window stalled with nothing in flight");
      }
      ring_->await();
      continue;
    }
    const auto t = Clock::now();
    const std::size_t n = backend_.reap(completions_, 1);
    stats_.reap_ns += ns_since(t);
    for (std::size_t i = 0; i < n; ++i) complete(completions_[i]);
  }
}

void RequestWindow::check() {
  const std::uint64_t total = plan_.requests();
  if (error_) return;
  if (cancelled() && completed_ < total) {
    throw_io_error(ECANCELED, to_string(direction_), file_.name(), plan_.body_begin, plan_.body_length(),
                   "stopped: another slice of this operation failed");
  }
  if (completed_ != total) {
    throw_io_error(EIO, to_string(direction_), file_.name(), plan_.body_begin, plan_.body_length(),
                   "transfer ended with requests unaccounted for");
  }
}

void RequestWindow::start(std::uint64_t index) {
  const unsigned s = free_.back();
  free_.pop_back();
  Slot& slot = slots_[s];
  slot.index = index;
  slot.file_offset = plan_.request_offset(index);
  slot.length = static_cast<std::uint32_t>(plan_.request_length(index));
  slot.io = ring_ != nullptr ? ring_->memory_of(index) : user_of(index);
  slot.done = 0;
  slot.transient = 0;
  slot.start = Clock::now();
  issue(s);
}

void RequestWindow::issue(unsigned s) {
  Slot& slot = slots_[s];
  Request r;
  r.fd = file_.fd();
  r.buf = slot.io + slot.done;
  r.len = slot.length - slot.done;
  r.offset = slot.file_offset + slot.done;
  r.write = direction_ == Direction::write;
  r.tag = s;
  backend_.prepare(r);
  ++in_flight_;
  if (config_.single_submit) submit();
}

void RequestWindow::submit() {
  const auto t = Clock::now();
  backend_.submit();
  stats_.submit_ns += ns_since(t);
}

void RequestWindow::fail(const Slot& slot, int err, const char* detail) {
  if (error_) return;
  try {
    throw_io_error(err, to_string(direction_), file_.name(), slot.file_offset + slot.done, slot.length - slot.done, detail);
  } catch (...) {
    error_ = std::current_exception();
  }
}

void RequestWindow::finish(unsigned s) {
  Slot& slot = slots_[s];
  stats_.latencies_ns.push_back(ns_since(slot.start));
  stats_.bytes += slot.length;
  ++stats_.requests;
  ++completed_;
  free_.push_back(s);
  if (ring_ != nullptr && !failed()) ring_->request_done(slot.index);
}

// The remainder of a short direct transfer that is no longer aligned: finish it buffered.
void RequestWindow::finish_unaligned(unsigned s) {
  Slot& slot = slots_[s];
  const std::uint64_t off = slot.file_offset + slot.done;
  const std::uint64_t len = slot.length - slot.done;
  try {
    if (direction_ == Direction::write) pwrite_exact(file_.edge_fd(), slot.io + slot.done, len, off, file_.name());
    else pread_exact(file_.edge_fd(), slot.io + slot.done, len, off, file_.name());
  } catch (...) {
    if (!error_) error_ = std::current_exception();
    free_.push_back(s);
    return;
  }
  slot.done = slot.length;
  finish(s);
}

void RequestWindow::complete(const Completion& c) {
  --in_flight_;
  const unsigned s = c.tag;
  if (s >= slots_.size()) {
    if (!error_) {
      try {
        throw_io_error(EIO, "reap", file_.name(), 0, 0, "completion with an unknown tag");
      } catch (...) {
        error_ = std::current_exception();
      }
    }
    return;
  }
  Slot& slot = slots_[s];
  const std::uint64_t remaining = slot.length - slot.done;
  if (c.res < 0) {
    const int err = static_cast<int>(-c.res);
    if ((err == EINTR || err == EAGAIN) && ++slot.transient <= kMaxTransientRetries) {
      ++stats_.resubmits;
      retry_.push_back(s);
      return;
    }
    fail(slot, err);
    free_.push_back(s);
    return;
  }
  const auto moved = static_cast<std::uint64_t>(c.res);
  if (moved > remaining) {
    fail(slot, EIO, "completion reports more bytes than asked");
    free_.push_back(s);
    return;
  }
  if (moved == 0 && remaining > 0) {
    if (direction_ == Direction::read) {
      fail(slot, ENODATA, "unexpected end of file");
      free_.push_back(s);
      return;
    }
    if (++slot.transient > kMaxTransientRetries) {
      fail(slot, EIO, "write made no progress");
      free_.push_back(s);
      return;
    }
  }
  const std::uint32_t before = slot.done;
  slot.done += static_cast<std::uint32_t>(moved);
  if (slot.done == slot.length) {
    finish(s);
    return;
  }
  ++stats_.resubmits;  // short transfer: resume the rest
  if (file_.direct() && moved > 0) {
    // Requests start aligned, so resume from the last aligned point, moving a few bytes again
    // rather than going buffered: a buffered write beside a direct one could be clobbered when
    // its page is written back. Only without aligned progress is the rest done buffered.
    const std::uint32_t resume = slot.done / file_.offset_align() * file_.offset_align();
    const bool memory_ok = reinterpret_cast<std::uintptr_t>(slot.io + resume) % file_.mem_align() == 0;
    if (!memory_ok || resume <= before) {
      finish_unaligned(s);
      return;
    }
    slot.done = resume;
  }
  retry_.push_back(s);
}

}  // namespace swapio::detail
