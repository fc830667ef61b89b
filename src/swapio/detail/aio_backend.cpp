// aio: Linux native AIO through libaio (io_setup/io_submit/io_getevents), what DeepSpeed's
// engine uses. The fallback where io_uring is blocked (many container runtimes' seccomp
// profiles) and a reference inside our own benchmarks. One context per worker thread, alive as
// long as the worker: io_destroy waits for an RCU grace period (~31 ms measured here).
#include <libaio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "swapio/detail/backend.hpp"
#include "swapio/error.hpp"

namespace swapio::detail {
namespace {

class AioBackend final : public Backend {
 public:
  explicit AioBackend(unsigned depth) : depth_(depth), iocbs_(depth), events_(depth) {
    const int r = io_setup(static_cast<int>(depth), &ctx_);
    if (r < 0) {
      throw_io_error(-r, "io_setup", "", 0, depth,
                     -r == EAGAIN ? "queue depth " + std::to_string(depth) + " is beyond /proc/sys/fs/aio-max-nr's room"
                                  : "queue depth " + std::to_string(depth));
    }
    free_.reserve(depth);
    for (unsigned i = depth; i > 0; --i) free_.push_back(i - 1);
    queued_.reserve(depth);
  }

  ~AioBackend() override {
    if (!drain()) {
      std::fprintf(stderr, "swapio: aio context closing with %u requests in flight that could not be reaped\n",
                   in_flight_);
    }
    io_destroy(ctx_);
  }

  const char* name() const noexcept override { return "aio"; }
  unsigned capacity() const noexcept override { return depth_; }

  void prepare(const Request& r) override {
    if (free_.empty()) throw_io_error(EBUSY, "io_prep", "", r.offset, r.len, "more requests than the queue depth");
    const unsigned i = free_.back();
    free_.pop_back();
    iocb& cb = iocbs_[i];
    if (r.write) io_prep_pwrite(&cb, r.fd, r.buf, r.len, static_cast<long long>(r.offset));
    else io_prep_pread(&cb, r.fd, r.buf, r.len, static_cast<long long>(r.offset));
    cb.data = reinterpret_cast<void*>(static_cast<std::uintptr_t>(r.tag));
    queued_.push_back(&cb);
  }

  void submit() override {
    std::size_t done = 0;
    unsigned stalls = 0;
    while (done < queued_.size()) {
      const int r = io_submit(ctx_, static_cast<long>(queued_.size() - done), queued_.data() + done);
      if (r == -EINTR) continue;
      if (r == -EAGAIN && ++stalls <= 1000) {  // kernel out of AIO resources: back off briefly
        ::usleep(100);
        continue;
      }
      if (r < 0 && r != -EAGAIN) {
        // io_submit refuses the first request it cannot queue (a bad descriptor, say) with
        // its errno: report it as that request's completion, as the other engines do.
        iocb* cb = queued_[done++];
        free_.push_back(static_cast<unsigned>(cb - iocbs_.data()));
        rejected_.push_back(Completion{tag_of(cb), r});
        continue;
      }
      if (r < 0) {
        queued_.erase(queued_.begin(), queued_.begin() + static_cast<std::ptrdiff_t>(done));
        throw_io_error(-r, "io_submit", "", 0, queued_.size(), "the kernel stayed out of AIO resources");
      }
      done += static_cast<std::size_t>(r);  // fewer than asked: submit the rest
      in_flight_ += static_cast<unsigned>(r);
      stalls = 0;
    }
    queued_.clear();
  }

  std::size_t reap(std::span<Completion> out, std::size_t min_wait) override {
    std::size_t n = 0;
    while (n < out.size() && !rejected_.empty()) {
      out[n++] = rejected_.front();
      rejected_.erase(rejected_.begin());
    }
    if (n == out.size() || in_flight_ == 0) return n;
    const long want = static_cast<long>(std::min<std::size_t>(out.size() - n, events_.size()));
    const long min_nr = n >= min_wait ? 0 : static_cast<long>(std::min<std::size_t>(min_wait - n, static_cast<std::size_t>(want)));
    int r;
    do {
      r = io_getevents(ctx_, min_nr, want, events_.data(), nullptr);
    } while (r == -EINTR);
    if (r < 0) throw_io_error(-r, "io_getevents", "", 0, in_flight_);
    for (int k = 0; k < r; ++k) {
      const io_event& ev = events_[static_cast<std::size_t>(k)];
      free_.push_back(static_cast<unsigned>(ev.obj - iocbs_.data()));
      // res is the byte count or -errno (a long in the ABI); res2 is unused by file I/O.
      out[n++] = Completion{tag_of(ev.obj), static_cast<std::int64_t>(static_cast<long>(ev.res))};
    }
    in_flight_ -= static_cast<unsigned>(r);
    return n;
  }

  bool drain() noexcept override {
    try {
      if (!queued_.empty()) submit();
    } catch (...) {
      // What was not submitted is simply dropped; what was is reaped below.
      for (iocb* cb : queued_) free_.push_back(static_cast<unsigned>(cb - iocbs_.data()));
      queued_.clear();
    }
    rejected_.clear();
    while (in_flight_ > 0) {
      const int r = io_getevents(ctx_, 1, static_cast<long>(events_.size()), events_.data(), nullptr);
      if (r == -EINTR) continue;
      if (r < 0) return false;
      for (int k = 0; k < r; ++k) free_.push_back(static_cast<unsigned>(events_[static_cast<std::size_t>(k)].obj - iocbs_.data()));
      in_flight_ -= static_cast<unsigned>(r);
    }
    return true;
  }

 private:
  static std::uint32_t tag_of(const iocb* cb) noexcept {
    return static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(cb->data));
  }

  unsigned depth_;
  io_context_t ctx_ = nullptr;
  std::vector<iocb> iocbs_;
  std::vector<iocb*> queued_;
  std::vector<unsigned> free_;
  std::vector<io_event> events_;
  std::vector<Completion> rejected_;  // refused by io_submit, reported by the next reap
  unsigned in_flight_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_aio_backend(unsigned queue_depth) { return std::make_unique<AioBackend>(queue_depth); }

}  // namespace swapio::detail
