// psync: pread/pwrite, one call per request, run at submit time. The last fallback (where neither
// io_uring nor native AIO can start, e.g. a seccomp policy) and a reference for the conformance suite.
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <vector>

#include "swapio/detail/backend.hpp"
#include "swapio/error.hpp"

namespace swapio::detail {
namespace {

class PsyncBackend final : public Backend {
 public:
  explicit PsyncBackend(unsigned depth) : depth_(depth) {}

  const char* name() const noexcept override { return "psync"; }
  unsigned capacity() const noexcept override { return depth_; }

  void prepare(const Request& r) override { queued_.push_back(r); }

  void submit() override {
    for (const Request& r : queued_) {
      // One system call, its result unaltered (a short count stays short): resuming is the
      // transfer layer's job, the same for every backend.
      const ssize_t n = r.write ? ::pwrite(r.fd, r.buf, r.len, static_cast<off_t>(r.offset))
                                : ::pread(r.fd, r.buf, r.len, static_cast<off_t>(r.offset));
      done_.push_back(Completion{r.tag, n < 0 ? -static_cast<std::int64_t>(errno) : n});
    }
    queued_.clear();
  }

  bool drain() noexcept override {
    queued_.clear();  // nothing is ever in flight: requests run inside submit()
    done_.clear();
    return true;
  }

  std::size_t reap(std::span<Completion> out, std::size_t min_wait) override {
    if (min_wait > 0 && done_.empty()) submit();  // nothing can complete later on its own
    std::size_t n = 0;
    while (n < out.size() && !done_.empty()) {
      out[n++] = done_.front();
      done_.pop_front();
    }
    return n;
  }

 private:
  unsigned depth_;
  std::vector<Request> queued_;
  std::deque<Completion> done_;
};

}  // namespace

std::unique_ptr<Backend> make_psync_backend(unsigned queue_depth) {
  return std::make_unique<PsyncBackend>(queue_depth);
}

}  // namespace swapio::detail
