#include "swapio/detail/transfer.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <optional>

#include "swapio/detail/plan.hpp"
#include "swapio/error.hpp"

namespace swapio::detail {
namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t ns_since(Clock::time_point t) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t).count());
}

// Staging slots start at multiples of this: each slot's memory is aligned for direct I/O.
std::size_t staging_stride(std::uint64_t block_size, const File& file) {
  const std::uint64_t a = file.mem_align() == 0 ? 1 : file.mem_align();
  return static_cast<std::size_t>((block_size + a - 1) / a * a);
}

// A transient result retried this many times on one request before it counts as an error.
constexpr unsigned kMaxTransientRetries = 64;

struct Slot {
  std::uint64_t file_offset = 0;  // where the request starts in the file
  std::byte* user = nullptr;      // where its bytes live in the caller's memory
  std::byte* io = nullptr;        // where the backend moves them (user, or a staging slot)
  std::uint32_t length = 0;
  std::uint32_t done = 0;         // bytes already moved (short transfers)
  unsigned transient = 0;         // EINTR/EAGAIN/zero-progress retries so far
  Clock::time_point start;
};

class Run {
 public:
  Run(Backend& backend, const Config& config, const File& file, bool write, std::byte* buf,
      const Plan& plan, std::byte* staging, const std::atomic<bool>* cancel, SliceStats& stats)
      : backend_(backend), config_(config), file_(file), write_(write), buf_(buf), plan_(plan),
        staging_(staging), cancel_(cancel), stats_(stats),
        depth_(static_cast<unsigned>(std::min<std::uint64_t>(config.queue_depth, std::max<std::uint64_t>(plan.requests(), 1)))),
        slots_(depth_) {
    free_.reserve(depth_);
    for (unsigned i = depth_; i > 0; --i) free_.push_back(i - 1);
    retry_.reserve(depth_);
    completions_.resize(depth_);
  }

  // Returns false when the backend could not be drained after an error: it must not be reused.
  bool run() {
    try {
      loop();
    } catch (...) {
      // A submit or reap call failed with requests in flight: never leave them behind.
      if (!error_) error_ = std::current_exception();
      if (!backend_.drain()) {
        backend_ok_ = false;
      }
      in_flight_ = 0;
    }
    check();
    return backend_ok_;
  }

 private:
  void loop() {
    const std::uint64_t total = plan_.requests();
    for (;;) {
      if (!failed() && !cancelled()) {
        for (unsigned s : retry_) issue(s);
        retry_.clear();
        if (config_.overlap_events || in_flight_ == 0) {
          while (in_flight_ < depth_ && next_ < total) start(next_++);
        }
        if (!config_.single_submit) submit();
      } else if (!retry_.empty()) {
        for (unsigned s : retry_) free_.push_back(s);  // abandoned: an error is already recorded
        retry_.clear();
      }
      if (in_flight_ == 0) break;
      const auto t = Clock::now();
      const std::size_t n = backend_.reap(completions_, 1);
      stats_.reap_ns += ns_since(t);
      for (std::size_t i = 0; i < n; ++i) complete(completions_[i]);
    }
  }

  void check() {
    const std::uint64_t total = plan_.requests();
    if (error_) return;
    if (cancelled() && completed_ < total) {
      throw_io_error(ECANCELED, write_ ? "write" : "read", file_.path(), plan_.body_begin, plan_.body_length(),
                     "stopped: another slice of this operation failed");
    }
    if (completed_ != total) {
      throw_io_error(EIO, write_ ? "write" : "read", file_.path(), plan_.body_begin, plan_.body_length(),
                     "transfer ended with requests unaccounted for");
    }
  }

 public:
  std::exception_ptr error() const noexcept { return error_; }

 private:
  bool failed() const noexcept { return error_ != nullptr; }
  bool cancelled() const noexcept { return cancel_ != nullptr && cancel_->load(std::memory_order_relaxed); }

  void start(std::uint64_t index) {
    const unsigned s = free_.back();
    free_.pop_back();
    Slot& slot = slots_[s];
    slot.file_offset = plan_.request_offset(index);
    slot.length = static_cast<std::uint32_t>(plan_.request_length(index));
    slot.user = buf_ + (slot.file_offset - plan_.offset);
    slot.io = plan_.staged ? staging_ + static_cast<std::size_t>(s) * staging_stride(plan_.block_size, file_) : slot.user;
    slot.done = 0;
    slot.transient = 0;
    slot.start = Clock::now();
    if (write_ && plan_.staged) std::memcpy(slot.io, slot.user, slot.length);
    issue(s);
  }

  void issue(unsigned s) {
    Slot& slot = slots_[s];
    Request r;
    r.fd = file_.fd();
    r.buf = slot.io + slot.done;
    r.len = slot.length - slot.done;
    r.offset = slot.file_offset + slot.done;
    r.write = write_;
    r.tag = s;
    backend_.prepare(r);
    ++in_flight_;
    if (config_.single_submit) submit();
  }

  void submit() {
    const auto t = Clock::now();
    backend_.submit();
    stats_.submit_ns += ns_since(t);
  }

  void fail(const Slot& slot, int err, const char* detail = "") {
    if (error_) return;
    try {
      throw_io_error(err, write_ ? "write" : "read", file_.path(), slot.file_offset + slot.done,
                     slot.length - slot.done, detail);
    } catch (...) {
      error_ = std::current_exception();
    }
  }

  void finish(unsigned s) {
    Slot& slot = slots_[s];
    if (!write_ && plan_.staged) std::memcpy(slot.user, slot.io, slot.length);
    stats_.latencies_ns.push_back(ns_since(slot.start));
    stats_.bytes += slot.length;
    ++stats_.requests;
    ++completed_;
    free_.push_back(s);
  }

  // The remainder of a short direct transfer that is no longer aligned: finish it buffered.
  void finish_unaligned(unsigned s) {
    Slot& slot = slots_[s];
    const std::uint64_t off = slot.file_offset + slot.done;
    const std::uint64_t len = slot.length - slot.done;
    try {
      if (write_) pwrite_exact(file_.edge_fd(), slot.io + slot.done, len, off, file_.path());
      else pread_exact(file_.edge_fd(), slot.io + slot.done, len, off, file_.path());
    } catch (...) {
      if (!error_) error_ = std::current_exception();
      free_.push_back(s);
      return;
    }
    slot.done = slot.length;
    finish(s);
  }

  void complete(const Completion& c) {
    --in_flight_;
    const unsigned s = c.tag;
    if (s >= slots_.size()) {
      if (!error_) {
        try {
          throw_io_error(EIO, "reap", file_.path(), 0, 0, "completion with an unknown tag");
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
      if (!write_) {
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

  Backend& backend_;
  const Config& config_;
  const File& file_;
  bool write_;
  std::byte* buf_;
  const Plan& plan_;
  std::byte* staging_;
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

// Detaches the file and unregisters buffers however the run ends.
struct Attachment {
  Backend& backend;
  bool buffers = false;
  ~Attachment() {
    backend.detach_file();
    if (buffers) backend.unregister_buffer();
  }
};

void move_edge(const File& file, bool write, std::byte* mem, std::uint64_t offset, std::uint64_t length,
               SliceStats& stats) {
  if (length == 0) return;
  const auto t = Clock::now();
  if (write) pwrite_exact(file.edge_fd(), mem, length, offset, file.path());
  else pread_exact(file.edge_fd(), mem, length, offset, file.path());
  stats.latencies_ns.push_back(ns_since(t));
  stats.bytes += length;
  ++stats.requests;
}

}  // namespace

void check_block_alignment(const Config& config, const File& file) {
  if (file.direct() && config.block_size % file.offset_align() != 0) {
    throw ConfigError("block_size " + std::to_string(config.block_size) +
                      " is not a multiple of the direct-I/O alignment " + std::to_string(file.offset_align()) +
                      " of " + file.path() + " (use a multiple, or direct=off)");
  }
}

Worker::Worker(const Config& config) : config_(config), backend_(make_backend(config, &fallback_note_)) {}

std::string Worker::engine_note() const {
  std::string note = fallback_note_;
  const std::string degraded = backend_->notes();
  if (!degraded.empty()) note += (note.empty() ? "" : "; ") + degraded;
  return note;
}

std::byte* Worker::staging(std::size_t bytes) {
  if (staging_.size() < bytes) staging_ = HostBuffer(bytes, MemoryKind::aligned);
  return staging_.data();
}

SliceStats Worker::run(const File& file, bool write, std::byte* buf, std::uint64_t offset,
                       std::uint64_t length, const std::atomic<bool>* cancel) {
  SliceStats stats;
  if (length == 0) return stats;
  if (broken_) {  // an earlier failure left the backend unusable: start a fresh one
    backend_.reset();
    backend_ = make_backend(config_, &fallback_note_);
    broken_ = false;
  }
  PlanInput in;
  in.offset = offset;
  in.length = length;
  in.address = reinterpret_cast<std::uintptr_t>(buf);
  in.block_size = config_.block_size;
  in.direct = file.direct();
  in.edge_align = file.edge_align();
  in.mem_align = file.mem_align();
  const Plan plan = make_plan(in);
  stats.staged = plan.staged;
  check_block_alignment(config_, file);
  stats.latencies_ns.reserve(plan.requests() + 2);

  // Head first, then the body through the backend, then the tail.
  move_edge(file, write, buf, offset, plan.head_length(), stats);
  if (plan.requests() > 0) {
    const unsigned depth = static_cast<unsigned>(std::min<std::uint64_t>(config_.queue_depth, plan.requests()));
    const std::size_t stage_bytes = static_cast<std::size_t>(depth) * staging_stride(plan.block_size, file);
    std::byte* stage = plan.staged ? staging(stage_bytes) : nullptr;
    Attachment attached{*backend_};
    if (config_.register_files) backend_->attach_file(file.fd());
    if (config_.register_buffers) {
      attached.buffers = plan.staged
          ? backend_->register_buffer(stage, stage_bytes)
          : backend_->register_buffer(buf + (plan.body_begin - offset), plan.body_length());
    }
    Run run(*backend_, config_, file, write, buf, plan, stage, cancel, stats);
    if (!run.run()) broken_ = true;  // replaced before the next slice, in this same thread
    if (run.error()) std::rethrow_exception(run.error());
  }
  move_edge(file, write, buf + (plan.body_end - offset), plan.body_end, plan.tail_length(), stats);
  return stats;
}

}  // namespace swapio::detail
