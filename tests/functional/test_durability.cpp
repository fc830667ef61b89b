// Durability and faults from the kernel itself: synced writes, whole-file replacement that a
// killed writer cannot leave half done, a file deleted, replaced or truncated under a running op,
// a full filesystem and a read-only one. Mounting needs root (CI runs as root); without it those
// tests skip with the reason.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "expect.hpp"
#include "common/subprocess.hpp"
#include "support.hpp"
#include "swapio/fault.hpp"
#include "swapio/swapio.hpp"

extern char** environ;

namespace swapio::test {
namespace {

constexpr std::uint64_t kOld = 101, kNew = 202;  // pattern seeds of the old and the new content

std::vector<std::byte> pattern(std::size_t size, std::uint64_t seed) {
  std::vector<std::byte> v(size);
  fill_pattern(v, 0, seed);
  return v;
}

// Names in a folder, for "nothing was left behind".
std::vector<std::string> entries(const std::string& folder) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(folder)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// A rule that runs `action` just before request `first` goes.
FaultRule call_at(std::uint64_t first, std::function<void()> action) {
  FaultRule r;
  r.kind = FaultKind::call;
  r.first = first;
  r.action = std::move(action);
  return r;
}

class Durability : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(Durability, SyncedWriteSaysSo) {
  const std::string path = dir_.file("synced.swp");
  HostBuffer buf(3 * kMiB + 5);
  fill_pattern(buf.span(), 0, kNew);
  Config c;
  c.sync = true;
  const OpResult r = write_file(buf.span(), path, c);
  EXPECT_TRUE(r.synced);
  EXPECT_FALSE(r.replaced);
  EXPECT_EQ(first_pattern_mismatch(read_plain(path), 0, kNew), -1);
  EXPECT_FALSE(write_file(buf.span(), path).synced) << "sync is off by default";
}

TEST_F(Durability, AtomicReplaceSwapsTheWholeFile) {
  const std::string path = dir_.file("tensor.swp");
  write_plain(path, pattern(3 * kMiB, kOld));
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  const auto before = entries(dir_.path());
  Config c;
  c.atomic_replace = true;
  HostBuffer buf(kMiB + 4099);  // shorter than the old file: in place, its tail would remain
  fill_pattern(buf.span(), 0, kNew);
  const OpResult r = write_file(buf.span(), path, c, 0, true);
  EXPECT_TRUE(r.replaced);
  EXPECT_TRUE(r.synced);
  EXPECT_TRUE(r.validated);
  EXPECT_EQ(r.path, path);
  const auto content = read_plain(path);
  ASSERT_EQ(content.size(), kMiB + 4099);
  EXPECT_EQ(first_pattern_mismatch(content, 0, kNew), -1);
  EXPECT_EQ(entries(dir_.path()), before) << "a temporary file was left behind";
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u) << "the replaced file lost its permissions";

  // The same through a handle, sync and async, with 3 threads, and onto a path that did not exist.
  c.intra_op_parallelism = 3;
  Handle handle(c);
  fill_pattern(buf.span(), 0, kOld);
  EXPECT_TRUE(handle.pwrite(std::span<const std::byte>(buf.span()), path).replaced);
  EXPECT_EQ(first_pattern_mismatch(read_plain(path), 0, kOld), -1);
  const std::string fresh = dir_.file("fresh.swp");
  const auto id = handle.async_pwrite(std::span<const std::byte>(buf.span()), fresh);
  EXPECT_TRUE(handle.wait(id).replaced);
  EXPECT_EQ(first_pattern_mismatch(read_plain(fresh), 0, kOld), -1);
}

TEST_F(Durability, FailedReplacementLeavesTheOldContent) {
  const std::string path = dir_.file("tensor.swp");
  write_plain(path, pattern(2 * kMiB, kOld));
  const auto before = entries(dir_.path());
  HostBuffer buf(2 * kMiB);
  fill_pattern(buf.span(), 0, kNew);
  for (int api = 0; api < 3; ++api) {  // basic, handle (3 threads), async
    SCOPED_TRACE(api == 0 ? "basic" : api == 1 ? "handle" : "async");
    Config c;
    c.atomic_replace = true;
    c.block_size = 128 * 1024;
    c.intra_op_parallelism = api == 0 ? 1 : 3;
    FaultRule eio;
    eio.kind = FaultKind::error;
    eio.first = 6;
    c.faults = std::make_shared<FaultInjector>(std::vector<FaultRule>{eio});
    try {
      if (api == 0) {
        write_file(buf.span(), path, c);
      } else {
        Handle h(c);
        if (api == 1) h.pwrite(std::span<const std::byte>(buf.span()), path);
        else h.wait(h.async_pwrite(std::span<const std::byte>(buf.span()), path));
      }
      ADD_FAILURE() << "the injected EIO did not fail the write";
    } catch (const Error& e) {
      EXPECT_EQ(e.errnum(), EIO) << e.what();
      EXPECT_EQ(e.path(), path) << "the error names the temporary, not the caller's path: " << e.what();
      // ... and says what was being written, and that the old content is kept.
      EXPECT_NE(std::string(e.what()).find("while writing its replacement .tensor.swp.swapio-"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("now removed: " + path + " keeps its old content"), std::string::npos) << e.what();
    }
    // Checked right after the call returned (the handle still alive for the async case's sake).
    EXPECT_EQ(first_pattern_mismatch(read_plain(path), 0, kOld), -1) << "a failed replacement touched the file";
    EXPECT_EQ(entries(dir_.path()), before) << "the temporary file of a failed replacement was left behind";
  }
}

TEST_F(Durability, AtomicReplaceFollowsSymlinksAndKeepsTheUmask) {
  // Through a symbolic link the file it names is replaced, as a write in place would write it.
  const std::string real = dir_.file("real.swp"), link = dir_.file("link.swp");
  write_plain(real, pattern(64 * 1024, kOld));
  std::filesystem::create_symlink(real, link);
  HostBuffer buf(100'000);
  fill_pattern(buf.span(), 0, kNew);
  Config c;
  c.atomic_replace = true;
  write_file(buf.span(), link, c);
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_EQ(first_pattern_mismatch(read_plain(real), 0, kNew), -1);
  EXPECT_EQ(read_plain(real).size(), 100'000u);

  // A dangling link too, as a write in place follows it: the file it names is created.
  const std::string named = dir_.file("named.swp"), dangling = dir_.file("dangling.swp");
  std::filesystem::create_symlink("named.swp", dangling);
  write_file(buf.span(), dangling, c);
  EXPECT_TRUE(std::filesystem::is_symlink(dangling)) << "the link was replaced by a file";
  EXPECT_EQ(first_pattern_mismatch(read_plain(named), 0, kNew), -1);
  EXPECT_EQ(read_plain(named).size(), 100'000u);

  // A new file gets the umask's permissions, as a file created in place would.
  const mode_t old_mask = ::umask(077);
  const std::string fresh = dir_.file("fresh.swp");
  write_file(buf.span(), fresh, c);
  ::umask(old_mask);
  struct stat st {};
  ASSERT_EQ(::stat(fresh.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(Durability, AtomicReplaceRefusesWhatItCannotDo) {
  HostBuffer buf(64 * 1024);
  Config c;
  c.atomic_replace = true;
  const std::string path = dir_.file("t.swp");
  try {
    write_file(buf.span(), path, c, 4096);
    ADD_FAILURE() << "a replacement at an offset must be refused";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("offset must be 0"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_IO_ERROR(write_file(buf.span(), dir_.path(), c), EISDIR, "a directory");
  EXPECT_IO_ERROR(write_file(buf.span(), "/dev/null", c), EINVAL, "not a regular file");
  EXPECT_TRUE(entries(dir_.path()).empty());
}

// Kills and reaps a child however the test leaves the scope.
struct ChildGuard {
  pid_t pid = -1;
  ~ChildGuard() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

// Starts the slow writer (slow_writer.cpp) and kills it once it has written part of the file.
void kill_writer_midway(const std::string& path, std::size_t size, const char* mode) {
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  const std::string size_text = std::to_string(size), seed = std::to_string(kNew);
  std::vector<char*> argv = {const_cast<char*>(SWAPIO_SLOW_WRITER_PATH), const_cast<char*>(path.c_str()),
                             const_cast<char*>(size_text.c_str()), const_cast<char*>(seed.c_str()),
                             const_cast<char*>(mode), nullptr};
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  if (rc != 0) ::close(out[0]);
  ASSERT_EQ(rc, 0) << std::strerror(rc);
  ChildGuard guard{pid};
  std::string said;
  char c = 0;
  while (said.find("writing\n") == std::string::npos && ::read(out[0], &c, 1) == 1) said += c;
  ::close(out[0]);
  ASSERT_EQ(said, "writing\n") << "the writer did not reach the middle of its write";
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  guard.pid = -1;
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the writer ended before it was killed";
}

TEST_F(Durability, KilledReplacementLeavesTheOldContentWhole) {
  const std::string path = dir_.file("tensor.swp");
  const std::size_t size = 4 * kMiB;
  write_plain(path, pattern(size, kOld));
  ASSERT_NO_FATAL_FAILURE(kill_writer_midway(path, size, "replace"));
  const auto content = read_plain(path);
  ASSERT_EQ(content.size(), size);
  EXPECT_EQ(first_pattern_mismatch(content, 0, kOld), -1) << "a killed replacement changed the file";
  // Run to the end, the replacement leaves exactly the new content.
  ASSERT_EQ(cli::run_program({SWAPIO_SLOW_WRITER_PATH, path, std::to_string(size), std::to_string(kNew), "replace"}).status, 0);
  EXPECT_EQ(first_pattern_mismatch(read_plain(path), 0, kNew), -1);

  // The control: the same kill during a write in place leaves a mix of old and new, which is
  // what the check above would see if replacement were not atomic.
  write_plain(path, pattern(size, kOld));
  ASSERT_NO_FATAL_FAILURE(kill_writer_midway(path, size, "in-place"));
  const auto mixed = read_plain(path);
  ASSERT_EQ(mixed.size(), size);
  EXPECT_NE(first_pattern_mismatch(mixed, 0, kOld), -1) << "no new byte reached the file before the kill";
  EXPECT_NE(first_pattern_mismatch(mixed, 0, kNew), -1) << "the whole write finished before the kill";
}

TEST_F(Durability, FileDeletedDuringAWriteIsAnError) {
  const std::string path = dir_.file("deleted.swp");
  HostBuffer buf(2 * kMiB);
  Config c;
  c.block_size = 128 * 1024;
  c.faults = std::make_shared<FaultInjector>(std::vector<FaultRule>{call_at(4, [&] { std::filesystem::remove(path); })});
  EXPECT_IO_ERROR(write_file(buf.span(), path, c), ENOENT, "deleted while it was being written");

  // Replaced by another file: the bytes went to the old inode, not to what the path names now.
  const std::string other = dir_.file("other.swp");
  write_plain(other, pattern(1000, kOld));
  c.faults = std::make_shared<FaultInjector>(std::vector<FaultRule>{call_at(4, [&] { std::filesystem::rename(other, path); })});
  EXPECT_IO_ERROR(write_file(buf.span(), path, c), ENOENT, "replaced by another file");
}

TEST_F(Durability, FileDeletedDuringAReadStillReadsItsBytes) {
  // The open file lives on until closed: the read is complete and exact.
  const std::string path = dir_.file("deleted.swp");
  write_plain(path, pattern(2 * kMiB, kOld));
  HostBuffer buf(2 * kMiB);
  Config c;
  c.block_size = 128 * 1024;
  c.faults = std::make_shared<FaultInjector>(std::vector<FaultRule>{call_at(4, [&] { std::filesystem::remove(path); })});
  EXPECT_EQ(read_file(buf.span(), path, c).bytes, 2 * kMiB);
  EXPECT_EQ(first_pattern_mismatch(buf.span(), 0, kOld), -1);
}

TEST_F(Durability, FileTruncatedByAnotherProcessDuringARead) {
  const std::string path = dir_.file("truncated.swp");
  HostBuffer buf(4 * kMiB);
  for (unsigned threads : {1u, 2u}) {  // basic API, then a Handle with two slices
    SCOPED_TRACE(threads == 1 ? "basic" : "handle");
    write_plain(path, pattern(4 * kMiB, kOld));
    Config c;
    c.block_size = 128 * 1024;
    c.queue_depth = 2;
    c.intra_op_parallelism = threads;
    c.faults = std::make_shared<FaultInjector>(std::vector<FaultRule>{
        call_at(4, [&] { ASSERT_EQ(cli::run_program({"truncate", "--size=256K", path}).status, 0); })});
    if (threads == 1) {
      EXPECT_IO_ERROR(read_file(buf.span(), path, c), ENODATA, "unexpected end of file");
    } else {
      Handle h(c);
      EXPECT_IO_ERROR(h.pread(buf.span(), path), ENODATA, path);
    }
  }
}

TEST_F(Durability, FullFilesystem) {
  ScratchMount small(dir_.path(), "small", "tmpfs", "size=1m");
  if (!small.ok()) GTEST_SKIP() << small.why_not();
  const std::string path = small.path() + "/big.swp";
  HostBuffer buf(4 * kMiB);
  fill_pattern(buf.span(), 0, kNew);
  EXPECT_IO_ERROR(write_file(buf.span(), path, {}), ENOSPC, "No space left on device");
  EXPECT_IO_ERROR(write_file(buf.span(), path, {}), ENOSPC, path);

  // A replacement that does not fit leaves the old content and no temporary file.
  std::filesystem::remove(path);
  const std::string kept = small.path() + "/kept.swp";
  write_plain(kept, pattern(512 * 1024, kOld));
  Config c;
  c.atomic_replace = true;
  EXPECT_IO_ERROR(write_file(buf.span(), kept, c), ENOSPC, kept + " ");
  EXPECT_EQ(first_pattern_mismatch(read_plain(kept), 0, kOld), -1);
  EXPECT_EQ(entries(small.path()), std::vector<std::string>{"kept.swp"});
}

TEST_F(Durability, ReadOnlyFilesystem) {
  ScratchMount ro(dir_.path(), "ro", "tmpfs", "size=1m", MS_RDONLY);
  if (!ro.ok()) GTEST_SKIP() << ro.why_not();
  HostBuffer buf(64 * 1024);
  const std::string path = ro.path() + "/x.swp";
  EXPECT_IO_ERROR(write_file(buf.span(), path, {}), EROFS, "open for writing " + path + ": Read-only file system");
  Config c;
  c.atomic_replace = true;
  EXPECT_IO_ERROR(write_file(buf.span(), path, c), EROFS, "Read-only file system");
  EXPECT_FALSE(std::filesystem::exists(path));
}

// Sets or clears the immutable attribute; returns errno (0 when done).
int set_immutable(const std::string& path, bool on) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int flags = 0;
  int err = 0;
  if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) {
    err = errno;
  } else {
    flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
    if (::ioctl(fd, FS_IOC_SETFLAGS, &flags) != 0) err = errno;
  }
  ::close(fd);
  return err;
}

TEST_F(Durability, ReadOnlyFile) {
  // Root writes through permission bits: an immutable file is read-only for root too.
  const std::string path = dir_.file("ro.swp");
  write_plain(path, pattern(256 * 1024, kOld));
  int expected = EACCES;
  struct Mutable {  // clears the attribute however the test ends, so the folder can be removed
    std::string path;
    ~Mutable() {
      if (!path.empty()) set_immutable(path, false);
    }
  } restore;
  if (::geteuid() == 0) {
    if (const int err = set_immutable(path, true); err != 0) {
      GTEST_SKIP() << "this filesystem has no immutable files: " << std::strerror(err);
    }
    restore.path = path;
    expected = EPERM;
  } else {
    ASSERT_EQ(::chmod(path.c_str(), 0444), 0);
  }
  HostBuffer buf(256 * 1024);
  fill_pattern(buf.span(), 0, kNew);
  EXPECT_IO_ERROR(write_file(buf.span(), path, {}), expected, "open for writing " + path);
  EXPECT_EQ(first_pattern_mismatch(read_plain(path), 0, kOld), -1);
}

}  // namespace
}  // namespace swapio::test
