// uring: liburing, one ring per worker thread. Setup flags degrade one at a time where the
// kernel refuses them; registered files and buffers are used where allowed.
#include <liburing.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "swapio/detail/backend.hpp"
#include "swapio/error.hpp"

namespace swapio::detail {
namespace {

constexpr std::size_t kMaxFixedBuffer = 1ull << 30;  // the kernel's limit for one iovec

class UringBackend final : public Backend {
 public:
  UringBackend(unsigned depth, bool register_files) : depth_(depth) {
    // Newest flags first; drop one at a time on EINVAL (older kernels), as fio does.
    static constexpr unsigned kFlagSets[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int ret = -EINVAL;
    for (unsigned flags : kFlagSets) {
      io_uring_params params{};
      params.flags = flags | IORING_SETUP_CQSIZE;
      params.cq_entries = 2 * depth;
      ret = io_uring_queue_init_params(depth, &ring_, &params);
      if (ret == 0) break;
      if (ret != -EINVAL) break;
      if (!notes_.empty()) notes_ += "; ";
      notes_ += "setup flags 0x" + hex(flags) + " refused";
    }
    if (ret < 0) throw_io_error(-ret, "io_uring_queue_init", "", 0, depth, "queue depth " + std::to_string(depth));
    if (register_files) {
      const int r = io_uring_register_files_sparse(&ring_, 1);
      if (r == 0) {
        fixed_files_ = true;
      } else {
        add_note(std::string("registered files refused: ") + std::strerror(-r));
      }
    }
  }

  ~UringBackend() override {
    // A ring must not die with requests in flight: their buffers may be freed next.
    if (!drain()) {
      std::fprintf(stderr, "swapio: io_uring ring closing with %u requests in flight that could not be reaped\n",
                   in_flight_);
    }
    if (buffers_registered_) io_uring_unregister_buffers(&ring_);
    io_uring_queue_exit(&ring_);
  }

  bool drain() noexcept override {
    for (int attempt = 0; queued_ > 0 && attempt < 1000; ++attempt) {
      const int r = io_uring_submit(&ring_);
      if (r > 0) {
        const auto n = static_cast<unsigned>(r);
        queued_ -= n > queued_ ? queued_ : n;
        in_flight_ += n;
      } else if (r == -EBUSY) {
        discard_ready();  // completions must be reaped before more can be submitted
      } else if (r != -EINTR && r != -EAGAIN) {
        break;
      }
    }
    while (in_flight_ > 0) {
      io_uring_cqe* cqe = nullptr;
      const int r = io_uring_wait_cqe(&ring_, &cqe);
      if (r == -EINTR || r == -EAGAIN || r == -ETIME) continue;
      if (r < 0) return false;
      discard_ready();
    }
    return queued_ == 0;
  }

  const char* name() const noexcept override { return "uring"; }
  unsigned capacity() const noexcept override { return depth_; }

  void prepare(const Request& r) override {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      submit();
      sqe = io_uring_get_sqe(&ring_);
      if (sqe == nullptr) throw_io_error(EBUSY, "io_uring_get_sqe", "", r.offset, r.len, "submission queue full");
    }
    const bool fixed_file = fixed_files_ && attached_fd_ >= 0 && r.fd == attached_fd_;
    const int fd = fixed_file ? 0 : r.fd;
    const int buf_index = fixed_buffer_index(r.buf, r.len);
    if (buf_index >= 0) {
      if (r.write) io_uring_prep_write_fixed(sqe, fd, r.buf, r.len, r.offset, buf_index);
      else io_uring_prep_read_fixed(sqe, fd, r.buf, r.len, r.offset, buf_index);
    } else {
      if (r.write) io_uring_prep_write(sqe, fd, r.buf, r.len, r.offset);
      else io_uring_prep_read(sqe, fd, r.buf, r.len, r.offset);
    }
    if (fixed_file) sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, r.tag);
    ++queued_;
  }

  void submit() override {
    while (queued_ > 0) {
      const int r = io_uring_submit(&ring_);
      if (r == -EINTR || r == -EAGAIN) continue;
      if (r < 0) throw_io_error(-r, "io_uring_submit", "", 0, queued_);
      const auto n = static_cast<unsigned>(r);
      queued_ -= n > queued_ ? queued_ : n;
      in_flight_ += n;
      if (n == 0 && queued_ > 0) throw_io_error(EIO, "io_uring_submit", "", 0, queued_, "submitted nothing");
    }
  }

  std::size_t reap(std::span<Completion> out, std::size_t min_wait) override {
    if (min_wait > 0) {
      io_uring_cqe* cqe = nullptr;
      for (;;) {
        const int r = io_uring_wait_cqe_nr(&ring_, &cqe, static_cast<unsigned>(min_wait));
        if (r == 0) break;
        if (r == -EINTR || r == -EAGAIN || r == -ETIME) continue;
        throw_io_error(-r, "io_uring_wait_cqe", "", 0, in_flight_);
      }
    }
    io_uring_cqe* cqes[64];
    std::size_t n = 0;
    while (n < out.size()) {
      const unsigned want = static_cast<unsigned>(std::min<std::size_t>(out.size() - n, 64));
      const unsigned got = io_uring_peek_batch_cqe(&ring_, cqes, want);
      if (got == 0) break;
      for (unsigned i = 0; i < got; ++i) {
        out[n++] = Completion{static_cast<std::uint32_t>(io_uring_cqe_get_data64(cqes[i])), cqes[i]->res};
      }
      io_uring_cq_advance(&ring_, got);
      in_flight_ -= got;
    }
    return n;
  }

  bool attach_file(int fd) override {
    if (!fixed_files_) return false;
    int r = io_uring_register_files_update(&ring_, 0, &fd, 1);
    if (r != 1) {
      fixed_files_ = false;
      add_note(std::string("registered file update refused: ") + std::strerror(r < 0 ? -r : EINVAL));
      return false;
    }
    attached_fd_ = fd;
    return true;
  }

  void detach_file() noexcept override {
    if (attached_fd_ < 0) return;
    int none = -1;
    io_uring_register_files_update(&ring_, 0, &none, 1);
    attached_fd_ = -1;
  }

  bool register_buffer(void* base, std::size_t len) override {
    unregister_buffer();
    std::vector<iovec> iovs;
    auto* p = static_cast<char*>(base);
    for (std::size_t off = 0; off < len; off += kMaxFixedBuffer) {
      iovs.push_back(iovec{p + off, std::min(kMaxFixedBuffer, len - off)});
    }
    const int r = io_uring_register_buffers(&ring_, iovs.data(), static_cast<unsigned>(iovs.size()));
    if (r != 0) {
      add_note(std::string("registered buffers refused: ") + std::strerror(-r) +
               (r == -ENOMEM ? " (RLIMIT_MEMLOCK)" : ""));
      return false;
    }
    fixed_base_ = p;
    fixed_len_ = len;
    buffers_registered_ = true;
    return true;
  }

  void unregister_buffer() noexcept override {
    if (!buffers_registered_) return;
    io_uring_unregister_buffers(&ring_);
    buffers_registered_ = false;
    fixed_base_ = nullptr;
    fixed_len_ = 0;
  }

  std::string notes() const override { return notes_; }

 private:
  static std::string hex(unsigned v) {
    char b[16];
    std::snprintf(b, sizeof b, "%x", v);
    return b;
  }

  void discard_ready() noexcept {
    io_uring_cqe* cqes[64];
    unsigned got;
    while ((got = io_uring_peek_batch_cqe(&ring_, cqes, 64)) > 0) {
      io_uring_cq_advance(&ring_, got);
      in_flight_ -= got > in_flight_ ? in_flight_ : got;
    }
  }

  void add_note(const std::string& n) {
    if (!notes_.empty()) notes_ += "; ";
    notes_ += n;
  }

  int fixed_buffer_index(const void* buf, std::uint32_t len) const noexcept {
    if (!buffers_registered_) return -1;
    const auto* p = static_cast<const char*>(buf);
    if (p < fixed_base_ || p + len > fixed_base_ + fixed_len_) return -1;
    const std::size_t first = static_cast<std::size_t>(p - fixed_base_) / kMaxFixedBuffer;
    const std::size_t last = static_cast<std::size_t>(p + len - 1 - fixed_base_) / kMaxFixedBuffer;
    return first == last ? static_cast<int>(first) : -1;
  }

  io_uring ring_{};
  unsigned depth_;
  unsigned queued_ = 0;
  unsigned in_flight_ = 0;
  bool fixed_files_ = false;
  int attached_fd_ = -1;
  bool buffers_registered_ = false;
  char* fixed_base_ = nullptr;
  std::size_t fixed_len_ = 0;
  std::string notes_;
};

}  // namespace

std::unique_ptr<Backend> make_uring_backend(unsigned queue_depth, bool register_files) {
  return std::make_unique<UringBackend>(queue_depth, register_files);
}

}  // namespace swapio::detail
