// Two edges a training job reaches: a Handle inherited by a forked child (refused clearly; the
// child's exit neither hangs nor crashes; a new Handle there works), and a file given as an open
// descriptor ("/proc/self/fd/N", as swapio.deepspeed passes one): its access mode honoured, the
// file named in every message, a descriptor closed too early said plainly.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "expect.hpp"
#include "support.hpp"
#include "swapio/fault.hpp"
#include "swapio/swapio.hpp"

namespace swapio::test {
namespace {

std::vector<std::byte> pattern(std::size_t n, std::uint64_t seed) {
  std::vector<std::byte> v(n);
  fill_pattern(v, 0, seed);
  return v;
}

// Runs child() in a forked child; its exit status (128 + a signal that ended it). A child that
// has not ended after 30 s is killed and the test fails: it hung.
int in_child(const std::function<int()>& child) {
  const pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return -1;
  }
  if (pid == 0) {
    int code = 90;
    try {
      code = child();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
      code = 91;
    }
    ::_exit(code);
  }
  for (int i = 0; i < 3000; ++i) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  ADD_FAILURE() << "the forked child hung";
  return -1;
}

enum class Before { unused, used, in_flight };

class ForkedChild : public ::testing::TestWithParam<Before> {
 protected:
  TempDir dir_;
};

INSTANTIATE_TEST_SUITE_P(States, ForkedChild, ::testing::Values(Before::unused, Before::used, Before::in_flight),
                         [](const auto& p) {
                           return p.param == Before::unused ? "Unused" : p.param == Before::used ? "Used" : "InFlight";
                         });

TEST_P(ForkedChild, AnInheritedHandleIsRefusedAndTheChildEndsCleanly) {
#if defined(__SANITIZE_ADDRESS__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
  // GCC 12's AddressSanitizer has no fork() interceptor: its allocator's lock is not held across
  // fork, so a child forked while a worker thread allocates can hang in its first malloc (seen
  // once in a full ASan run). The default run covers this case.
  if (GetParam() == Before::in_flight) GTEST_SKIP() << "GCC 12's ASan allocator does not survive a fork mid-allocation";
#endif
  Config c;
  c.intra_op_parallelism = 2;
  auto h = std::make_unique<Handle>(c);
  const std::vector<std::byte> data = pattern(4 << 20, 1);
  const std::string path = dir_.file("parent.swp");
  if (GetParam() == Before::used) (void)h->pwrite(data, path);
  Handle::OpId id = 0;
  if (GetParam() == Before::in_flight) id = h->async_pwrite(data, path);
  const std::string owner = "belongs to process " + std::to_string(::getpid());
  const std::string child_path = dir_.file("child.swp");
  const int code = in_child([&] {
    try {
      (void)h->pwrite(data, child_path);
      return 1;  // the parent's Handle ran in the child
    } catch (const ConfigError& e) {
      if (std::string(e.what()).find(owner) == std::string::npos) return 2;
      if (std::string(e.what()).find("create a new one in the child") == std::string::npos) return 2;
    }
    try {
      (void)h->wait();
      return 3;
    } catch (const ConfigError&) {
    }
    h.reset();  // the destructor must neither hang nor crash
#if !defined(__SANITIZE_THREAD__)
    // (ThreadSanitizer refuses new threads after a multi-threaded fork.)
    Handle mine(c);
    (void)mine.pwrite(data, child_path);
    if (read_plain(child_path) != data) return 4;
#endif
    return 0;
  });
  EXPECT_EQ(code, 0) << "1: the inherited Handle ran; 2: the error did not name the owner and the remedy; "
                        "3: wait() was not refused; 4: a new Handle in the child failed; else a crash or an exception";
  if (id != 0) (void)h->wait(id);  // the parent's Handle is unaffected
  (void)h->pwrite(data, path);
  EXPECT_EQ(read_plain(path), data);
}

class Descriptors : public ::testing::Test {
 protected:
  // A file of old_ bytes, opened with flags; its descriptor path.
  std::string open_as(int flags, const char* prefix = "/proc/self/fd/") {
    write_plain(file_, old_);
    fd_ = ::open(file_.c_str(), flags | O_CLOEXEC);
    EXPECT_GE(fd_, 0) << std::strerror(errno);
    return prefix + std::to_string(fd_);
  }
  void TearDown() override {
    if (fd_ >= 0) ::close(fd_);
  }

  TempDir dir_;
  std::string file_ = dir_.file("held.swp");
  std::vector<std::byte> old_ = pattern(64 * 1024, 2);
  std::vector<std::byte> data_ = pattern(64 * 1024, 3);
  int fd_ = -1;
};

TEST_F(Descriptors, AReadOnlyDescriptorIsNeverWrittenThrough) {
  for (const char* prefix : {"/proc/self/fd/", "/dev/fd/"}) {
    const std::string path = open_as(O_RDONLY, prefix);
    const std::string named = file_ + " (descriptor " + std::to_string(fd_) + ")";
    EXPECT_IO_ERROR((void)write_file(data_, path), EBADF, named + " (the descriptor is open read-only): Bad file descriptor");
    Handle h;
    EXPECT_IO_ERROR((void)h.async_pwrite(data_, path), EBADF, "open read-only");
    EXPECT_EQ(read_plain(file_), old_) << "a read-only descriptor's file was overwritten";
    ::close(std::exchange(fd_, -1));
  }
}

TEST_F(Descriptors, AppendAndWriteOnlyDescriptorsAreRefusedForWhatTheyCannotDo) {
  const std::string append = open_as(O_WRONLY | O_APPEND);
  EXPECT_IO_ERROR((void)write_file(data_, append, {}, 4096), EBADF, "O_APPEND");
  EXPECT_EQ(read_plain(file_), old_);
  ::close(std::exchange(fd_, -1));
  const std::string write_only = open_as(O_WRONLY);
  std::vector<std::byte> in(4096);
  EXPECT_IO_ERROR((void)read_file(in, write_only), EBADF, "open write-only");
  ::close(std::exchange(fd_, -1));
  EXPECT_IO_ERROR((void)read_file(in, "/proc/self/fd/999999"), EBADF, "descriptor 999999 is not open");
}

TEST_F(Descriptors, ADescriptorsFileIsWrittenValidatedAndNamedInErrors) {
  const std::string path = open_as(O_RDWR);
  const OpResult r = write_file(data_, path, {}, 0, /*validate=*/true);
  EXPECT_TRUE(r.validated);
  EXPECT_EQ(read_plain(file_), data_);
  std::vector<std::byte> in(2 * data_.size());
  try {
    (void)read_file(in, path);
    ADD_FAILURE() << "a read past the end succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(file_ + " (descriptor " + std::to_string(fd_) + ")"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("/proc/self/fd"), std::string::npos) << e.what();
  }
}

TEST_F(Descriptors, ADescriptorClosedBeforeTheOpFinishedIsSaidSo) {
  const std::string path = open_as(O_RDWR);
  Config c;
  c.block_size = 4096;
  const int fd = fd_;
  FaultRule close_it;
  close_it.kind = FaultKind::call;
  close_it.action = [fd] { ::close(fd); };
  c.faults = std::make_shared<FaultInjector>(std::vector<FaultRule>{close_it});
  Handle h(c);
  const Handle::OpId id = h.async_pwrite(data_, path);
  fd_ = -1;  // closed by the op's first request
  try {
    (void)h.wait(id);
    ADD_FAILURE() << "a write whose descriptor was closed under it reported success";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("descriptor " + std::to_string(fd) + " was closed before the op finished"), std::string::npos) << what;
    EXPECT_EQ(what.find("deleted"), std::string::npos) << what;
    EXPECT_NE(what.find(file_), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace swapio::test
