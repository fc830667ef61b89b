#include "swapio/detail/transfer.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <thread>
#include <mutex>
#include <condition_variable>
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

// A transient result retried this many times on one request before it counts as an error.
constexpr unsigned kMaxTransientRetries = 64;

}  // namespace

// Copies between staging and the caller's host memory on a thread of their own, in order: the
// stream interface of a device whose "device memory" is the caller's host memory, so that the
// copies overlap the I/O exactly as a GPU's do.
class HostCopyStream final : public DeviceStream {
 public:
  HostCopyStream() : thread_([this] { serve(); }) {}
  ~HostCopyStream() override {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  void copy_to_device(std::byte* user, const std::byte* staging, std::size_t n) override { push({user, staging, n, 0}); }
  void copy_to_host(std::byte* staging, const std::byte* user, std::size_t n) override { push({staging, user, n, 0}); }
  std::uint64_t record() override {
    const std::uint64_t ticket = ++recorded_;
    push({nullptr, nullptr, 0, ticket});
    return ticket;
  }
  bool done(std::uint64_t ticket) override {
    std::lock_guard lock(mutex_);
    return completed_ >= ticket;
  }
  void wait(std::uint64_t ticket) override {
    std::unique_lock lock(mutex_);
    done_cv_.wait(lock, [&] { return completed_ >= ticket; });
  }
  void drain() noexcept override {
    std::unique_lock lock(mutex_);
    done_cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
  }

 private:
  struct Copy {
    std::byte* dst;  // null for a ticket
    const std::byte* src;
    std::size_t n;
    std::uint64_t ticket;
  };

  void push(const Copy& c) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(c);
    }
    cv_.notify_one();
  }

  void serve() {
    std::unique_lock lock(mutex_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      const Copy c = queue_.front();
      queue_.pop_front();
      if (c.dst == nullptr) {
        completed_ = c.ticket;
      } else {
        busy_ = true;
        lock.unlock();
        std::memcpy(c.dst, c.src, c.n);
        lock.lock();
        busy_ = false;
      }
      if (c.dst == nullptr || queue_.empty()) done_cv_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_, done_cv_;
  std::deque<Copy> queue_;
  std::uint64_t recorded_ = 0;  // only the owning thread records
  std::uint64_t completed_ = 0;
  bool busy_ = false;
  bool stop_ = false;
  std::thread thread_;  // last: starts after every member above exists
};

namespace {

// The staging ring: its layout and where its memory is.
struct Ring : RingLayout {
  std::byte* base = nullptr;
};

struct Slot {
  std::uint64_t index = 0;        // request index in the plan
  std::uint64_t file_offset = 0;  // where the request starts in the file
  std::byte* io = nullptr;        // where the backend moves its bytes (caller's memory or staging)
  std::uint32_t length = 0;
  std::uint32_t done = 0;         // bytes already moved (short transfers)
  unsigned transient = 0;         // EINTR/EAGAIN/zero-progress retries so far
  Clock::time_point start;
};

// One position of the ring.
struct ChunkState {
  enum class Phase {
    free,     // holds nothing in progress
    filling,  // write: the copy from the caller's memory is running
    ready,    // write: copied in; its requests may go
    io,       // read: its requests are in flight or done
    copying,  // read: the copy out to the caller's memory is running
  };
  Phase phase = Phase::free;
  std::uint64_t chunk = 0;
  std::uint64_t ticket = 0;
  std::uint64_t finished = 0;  // requests of the chunk completed
};

class Run {
 public:
  Run(Backend& backend, const Config& config, const File& file, bool write, std::byte* buf,
      const Plan& plan, const Ring& ring, DeviceStream* copier, const std::atomic<bool>* cancel, SliceStats& stats)
      : backend_(backend), config_(config), file_(file), write_(write), buf_(buf), plan_(plan), ring_(ring),
        copier_(copier), cancel_(cancel), stats_(stats),
        depth_(static_cast<unsigned>(std::min<std::uint64_t>(config.queue_depth, std::max<std::uint64_t>(plan.requests(), 1)))),
        slots_(depth_), chunk_state_(plan.staged ? ring.chunks : 0) {
    free_.reserve(depth_);
    for (unsigned i = depth_; i > 0; --i) free_.push_back(i - 1);
    retry_.reserve(depth_);
    completions_.resize(depth_);
  }

  // Returns false when the backend could not be drained after an error: it must not be reused.
  bool run() {
    try {
      loop();
      if (!error_ && plan_.staged) {
        while (!copies_.empty()) await_copy();  // a read's last chunks reach the caller
      }
    } catch (...) {
      // A submit, reap or copy call failed with requests in flight: never leave them behind.
      if (!error_) error_ = std::current_exception();
      if (!backend_.drain()) {
        backend_ok_ = false;
      }
      in_flight_ = 0;
    }
    if (copier_ != nullptr) copier_->drain();  // no copy may outlive the run
    check();
    return backend_ok_;
  }

  std::exception_ptr error() const noexcept { return error_; }

 private:
  using Phase = ChunkState::Phase;

  void loop() {
    const std::uint64_t total = plan_.requests();
    for (;;) {
      if (!failed() && !cancelled()) {
        if (plan_.staged) poll_copies();
        for (unsigned s : retry_) issue(s);
        retry_.clear();
        if (config_.overlap_events || in_flight_ == 0) {
          while (in_flight_ < depth_ && next_ < total && ready_to_start(next_)) start(next_++);
        }
        if (!config_.single_submit) submit();
      } else if (!retry_.empty()) {
        for (unsigned s : retry_) free_.push_back(s);  // abandoned: an error is already recorded
        retry_.clear();
      }
      if (in_flight_ == 0) {
        if (failed() || cancelled() || next_ >= total) break;
        await_copy();  // nothing in flight: the next request waits for a copy
        continue;
      }
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

  bool failed() const noexcept { return error_ != nullptr; }
  bool cancelled() const noexcept { return cancel_ != nullptr && cancel_->load(std::memory_order_relaxed); }

  // --- the staging ring -------------------------------------------------------------------
  std::uint64_t chunk_count() const noexcept { return (plan_.requests() + ring_.per_chunk - 1) / ring_.per_chunk; }
  std::uint64_t chunk_requests(std::uint64_t c) const noexcept {
    return std::min(ring_.per_chunk, plan_.requests() - c * ring_.per_chunk);
  }
  ChunkState& position(std::uint64_t c) noexcept { return chunk_state_[c % ring_.chunks]; }
  std::byte* staging_of(std::uint64_t index) const noexcept { return ring_.base + ring_.offset_of(index); }
  std::byte* user_of(std::uint64_t index) const noexcept { return buf_ + (plan_.request_offset(index) - plan_.offset); }

  // Enqueues the copies of chunk c between staging and the caller's memory: one copy when the
  // chunk's requests lie back to back in staging as in the caller's memory, else one each.
  void copy_chunk(std::uint64_t c) {
    const std::uint64_t first = c * ring_.per_chunk, n = chunk_requests(c);
    const bool contiguous = ring_.request_stride == plan_.block_size;
    for (std::uint64_t i = first; i < first + n;) {
      const std::uint64_t count = contiguous ? n : 1;
      std::uint64_t bytes = 0;
      for (std::uint64_t k = i; k < i + count; ++k) bytes += plan_.request_length(k);
      if (write_) copier_->copy_to_host(staging_of(i), user_of(i), static_cast<std::size_t>(bytes));
      else copier_->copy_to_device(user_of(i), staging_of(i), static_cast<std::size_t>(bytes));
      i += count;
    }
    ChunkState& st = position(c);
    st.ticket = copier_->record();
    copies_.push_back(c);
  }

  // Whether request `index` may start; opens its chunk when the ring position is free.
  bool ready_to_start(std::uint64_t index) {
    if (!plan_.staged) return true;
    const std::uint64_t c = index / ring_.per_chunk;
    ChunkState& st = position(c);
    if (write_) {
      prefetch();
      return st.chunk == c && st.phase == Phase::ready;
    }
    if (st.phase == Phase::free) {
      st = ChunkState{Phase::io, c, 0, 0};
      return true;
    }
    return st.chunk == c && st.phase == Phase::io;
  }

  // A write copies chunks in ahead of their requests, as far as the ring allows.
  void prefetch() {
    while (opened_ < chunk_count() && position(opened_).phase == Phase::free) {
      position(opened_) = ChunkState{Phase::filling, opened_, 0, 0};
      copy_chunk(opened_++);
    }
  }

  void copy_done(std::uint64_t c) {
    ChunkState& st = position(c);
    st.phase = write_ ? Phase::ready : Phase::free;
  }

  // Moves chunks whose copies finished on, without blocking (copies finish in order).
  void poll_copies() {
    while (!copies_.empty() && copier_->done(position(copies_.front()).ticket)) {
      copy_done(copies_.front());
      copies_.pop_front();
    }
    if (write_) prefetch();
  }

  // Blocks for the oldest copy still running.
  void await_copy() {
    if (copies_.empty()) {
      throw_io_error(EIO, write_ ? "write" : "read", file_.path(), plan_.body_begin, plan_.body_length(),
                     "staging ring stalled with no copy running");
    }
    copier_->wait(position(copies_.front()).ticket);
    copy_done(copies_.front());
    copies_.pop_front();
  }

  // A request of chunk c finished: a read's chunk is copied out once all of its requests are
  // done; a write's position is free again.
  void chunk_request_done(std::uint64_t index) {
    const std::uint64_t c = index / ring_.per_chunk;
    ChunkState& st = position(c);
    if (++st.finished < chunk_requests(c)) return;
    if (write_) {
      st.phase = Phase::free;
    } else {
      st.phase = Phase::copying;
      copy_chunk(c);
    }
  }

  // --- requests ---------------------------------------------------------------------------
  void start(std::uint64_t index) {
    const unsigned s = free_.back();
    free_.pop_back();
    Slot& slot = slots_[s];
    slot.index = index;
    slot.file_offset = plan_.request_offset(index);
    slot.length = static_cast<std::uint32_t>(plan_.request_length(index));
    slot.io = plan_.staged ? staging_of(index) : user_of(index);
    slot.done = 0;
    slot.transient = 0;
    slot.start = Clock::now();
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
    stats_.latencies_ns.push_back(ns_since(slot.start));
    stats_.bytes += slot.length;
    ++stats_.requests;
    ++completed_;
    free_.push_back(s);
    if (plan_.staged && !failed()) chunk_request_done(slot.index);
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
  const Ring& ring_;
  DeviceStream* copier_;  // staging <-> caller's memory, when staged
  const std::atomic<bool>* cancel_;
  SliceStats& stats_;
  unsigned depth_;
  std::vector<Slot> slots_;
  std::vector<unsigned> free_;
  std::vector<unsigned> retry_;
  std::vector<Completion> completions_;
  std::vector<ChunkState> chunk_state_;  // one per ring position
  std::deque<std::uint64_t> copies_;     // chunks whose copies run, oldest first
  std::uint64_t opened_ = 0;             // a write's next chunk to copy in
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

// An edge of device memory, bounced through host memory in pieces of at most bounce_bytes.
void move_device_edge(const File& file, bool write, DeviceStream& stream, std::byte* bounce, std::size_t bounce_bytes,
                      std::byte* device_mem, std::uint64_t offset, std::uint64_t length, SliceStats& stats) {
  if (length == 0) return;
  const auto t = Clock::now();
  for (std::uint64_t pos = 0; pos < length;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(bounce_bytes, length - pos));
    if (write) {
      stream.copy_to_host(bounce, device_mem + pos, n);
      stream.wait(stream.record());
      pwrite_exact(file.edge_fd(), bounce, n, offset + pos, file.path());
    } else {
      pread_exact(file.edge_fd(), bounce, n, offset + pos, file.path());
      stream.copy_to_device(device_mem + pos, bounce, n);
      stream.wait(stream.record());
    }
    pos += n;
  }
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

Worker::~Worker() {
  host_copy_.reset();
  release_device();
}

std::string Worker::engine_note() const {
  std::string note = fallback_note_;
  const std::string degraded = backend_->notes();
  if (!degraded.empty()) note += (note.empty() ? "" : "; ") + degraded;
  return note;
}

void Worker::release_device() noexcept {
  stream_.reset();  // drains its copies
  if (staging_registered_) device_->unregister_host(staging_.data());
  staging_registered_ = false;
  device_.reset();
}

DeviceStream& Worker::stream_for(Device& device) {
  if (device_.get() != &device || !stream_) {
    auto stream = device.create_stream();  // first: a failure leaves the worker as it was
    release_device();
    device_ = device.shared_from_this();
    stream_ = std::move(stream);
  }
  return *stream_;
}

std::byte* Worker::staging(std::size_t bytes, Device* device) {
  if (staging_.size() < bytes) {
    if (staging_registered_) device_->unregister_host(staging_.data());
    staging_registered_ = false;
    staging_ = HostBuffer(bytes, MemoryKind::aligned);
  }
  if (device != nullptr && !staging_registered_) {
    device_->register_host(staging_.data(), staging_.size());
    staging_registered_ = true;
  }
  return staging_.data();
}

SliceStats Worker::run(const File& file, bool write, std::byte* buf, std::uint64_t offset,
                       std::uint64_t length, const std::atomic<bool>* cancel, Device* device) {
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
  in.device_memory = device != nullptr;
  // Scattered pages only cost with direct I/O (buffered I/O copies through the page cache).
  in.stage_memory = device == nullptr && file.direct() &&
                    (config_.staging == StageMode::always ||
                     (config_.staging == StageMode::automatic && !is_host_buffer_memory(buf, static_cast<std::size_t>(length))));
  const Plan plan = make_plan(in);
  stats.staged = plan.staged;
  check_block_alignment(config_, file);
  stats.latencies_ns.reserve(plan.requests() + 2);

  // The staging ring: the configured chunks, copied by this thread's stream on the device, or
  // for host memory by this worker's copy thread, while the other chunks' I/O runs.
  Ring ring;
  DeviceStream* copier = nullptr;
  if (plan.staged && (device != nullptr || plan.requests() > 0)) {
    static_cast<RingLayout&>(ring) =
        make_ring_layout(plan.block_size, file.mem_align(), config_.device_chunk_size, config_.device_chunks);
    if (device != nullptr) {
      copier = &stream_for(*device);
    } else {
      if (!host_copy_) host_copy_ = std::make_unique<HostCopyStream>();
      copier = host_copy_.get();
    }
    ring.base = staging(static_cast<std::size_t>(ring.bytes()), device);
  }
  const auto edge = [&](std::byte* mem, std::uint64_t off, std::uint64_t len) {
    if (device != nullptr) move_device_edge(file, write, *copier, ring.base, static_cast<std::size_t>(ring.bytes()), mem, off, len, stats);
    else move_edge(file, write, mem, off, len, stats);
  };

  // Head first, then the body through the backend, then the tail.
  edge(buf, offset, plan.head_length());
  if (plan.requests() > 0) {
    Attachment attached{*backend_};
    if (config_.register_files) backend_->attach_file(file.fd());
    if (config_.register_buffers) {
      attached.buffers = plan.staged
          ? backend_->register_buffer(ring.base, static_cast<std::size_t>(ring.bytes()))
          : backend_->register_buffer(buf + (plan.body_begin - offset), plan.body_length());
    }
    Run run(*backend_, config_, file, write, buf, plan, ring, copier, cancel, stats);
    if (!run.run()) broken_ = true;  // replaced before the next slice, in this same thread
    if (run.error()) std::rethrow_exception(run.error());
  }
  edge(buf + (plan.body_end - offset), plan.body_end, plan.tail_length());
  return stats;
}

}  // namespace swapio::detail
