// Bad input and refusals: each is an exception naming the operation, the path and the cause,
// never a crash, a hang, or a silently short file.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <utility>
#include <vector>

#include "expect.hpp"
#include "support.hpp"
#include "swapio/swapio.hpp"

namespace swapio::test {
namespace {

class Errors : public ::testing::Test {
 protected:
  HostBuffer buf_{64 * 1024};
  TempDir dir_;
};

TEST_F(Errors, MissingFile) {
  const std::string path = dir_.file("absent.swp");
  EXPECT_IO_ERROR(read_file(buf_.span(), path), ENOENT, "open for reading " + path + ": No such file or directory");
  EXPECT_FALSE(std::filesystem::exists(path)) << "a read must not create the file";
}

TEST_F(Errors, WriteIntoMissingFolder) {
  const std::string path = dir_.file("no/such/folder/x.swp");
  EXPECT_IO_ERROR(write_file(buf_.span(), path), ENOENT, "open for writing " + path);
}

TEST_F(Errors, DirectoryIsNotAFile) {
  EXPECT_IO_ERROR(read_file(buf_.span(), dir_.path()), EISDIR, "a directory");
  EXPECT_IO_ERROR(write_file(buf_.span(), dir_.path()), EISDIR, "open for writing " + dir_.path());
}

TEST_F(Errors, SpecialFilesAreRefusedWithoutHanging) {
  EXPECT_IO_ERROR(read_file(buf_.span(), "/dev/null"), EINVAL, "not a regular file");
  const std::string fifo = dir_.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  EXPECT_IO_ERROR(read_file(buf_.span(), fifo), EINVAL, "not a regular file");
}

TEST_F(Errors, ReadPastEndOfFile) {
  const std::string path = dir_.file("small.swp");
  std::vector<std::byte> content(1000);
  write_plain(path, content);
  EXPECT_IO_ERROR(read_file(std::span(buf_.span()).first(2000), path), ENODATA,
               "offset 0 length 2000 (past end of file: the file is 1000 bytes)");
  EXPECT_IO_ERROR(read_file(std::span(buf_.span()).first(10), path, {}, 995), ENODATA, "past end of file");
  EXPECT_NO_THROW(read_file(std::span(buf_.span()).first(10), path, {}, 990));
}

TEST_F(Errors, BadConfigValuesAreRejectedBeforeAnyIo) {
  const std::string path = dir_.file("cfg.swp");
  Config c;
  c.block_size = 0;
  EXPECT_CONFIG_ERROR(write_file(buf_.span(), path, c), "block_size 0");
  c = {};
  c.queue_depth = 0;
  EXPECT_CONFIG_ERROR(write_file(buf_.span(), path, c), "queue_depth 0");
  c = {};
  c.intra_op_parallelism = 0;
  EXPECT_CONFIG_ERROR(Handle{c}, "intra_op_parallelism 0");
  EXPECT_FALSE(std::filesystem::exists(path)) << "a rejected config must not create the file";
}

TEST_F(Errors, BlockSizeThatBreaksTheDirectAlignment) {
  if (!supports_direct(dir_.path())) GTEST_SKIP() << dir_.path() << " has no direct I/O";
  Config c;
  c.block_size = 1000;
  EXPECT_CONFIG_ERROR(write_file(buf_.span(), dir_.file("a.swp"), c), "block_size 1000 is not a multiple of the direct-I/O alignment");
  c.direct = DirectMode::off;
  fill_pattern(buf_.span(), 0, 1);
  EXPECT_NO_THROW(write_file(buf_.span(), dir_.file("b.swp"), c, 0, true)) << "buffered I/O takes any block size";
}

TEST_F(Errors, NullBufferWithASize) {
  EXPECT_CONFIG_ERROR(write_file(std::span<const std::byte>(static_cast<const std::byte*>(nullptr), 10), dir_.file("n")),
                      "buffer is null but its length is 10");
}

TEST_F(Errors, OffsetBeyondTheLargestFileOffset) {
  EXPECT_CONFIG_ERROR(write_file(buf_.span(), dir_.file("far"), {}, ~0ull - 10), "beyond the largest file offset");
}

// Every public entry point refuses bad arguments with a ConfigError naming them, before any
// file is created: a null buffer with a size, a "negative" offset (a signed -4096 converted),
// an offset + length past the largest file offset, an empty path, a device span without device,
// a read into read-only memory.
TEST_F(Errors, PublicFunctionsRejectBadArguments) {
  const std::string path = dir_.file("never.swp");
  const std::uint64_t negative = static_cast<std::uint64_t>(std::int64_t{-4096});
  const auto* null = static_cast<std::byte*>(nullptr);
  auto device = make_emulated_device();
  DeviceBuffer dbuf(device, 4096);
  Handle h;
  const std::vector<std::pair<std::string, std::function<void()>>> calls = {
      {"buffer is null", [&] { read_file(std::span<std::byte>(const_cast<std::byte*>(null), 8), path); }},
      {"buffer is null", [&] { h.pread(std::span<std::byte>(const_cast<std::byte*>(null), 8), path); }},
      {"buffer is null", [&] { h.async_pwrite(std::span<const std::byte>(null, 8), path); }},
      {"buffer is null", [&] { read_file(DeviceSpan{device.get(), nullptr, 8}, path); }},
      {"buffer is null", [&] { validate_file_range(std::span<const std::byte>(null, 8), path, 0); }},
      {"beyond the largest file offset", [&] { read_file(buf_.span(), path, {}, negative); }},
      {"beyond the largest file offset", [&] { write_file(buf_.span(), path, {}, negative); }},
      {"beyond the largest file offset", [&] { h.pwrite(std::span<const std::byte>(buf_.span()), path, negative); }},
      {"beyond the largest file offset", [&] { h.async_pread(buf_.span(), path, negative); }},
      {"beyond the largest file offset", [&] { h.pwrite(dbuf.span(), path, negative); }},
      {"beyond the largest file offset", [&] { validate_file_range(buf_.span(), path, negative); }},
      {"beyond the largest file offset", [&] { write_file(buf_.span(), path, {}, std::uint64_t{INT64_MAX} - 100); }},
      {"path is empty", [&] { write_file(buf_.span(), ""); }},
      {"path is empty", [&] { h.pread(buf_.span(), ""); }},
      {"names no device", [&] { write_file(DeviceSpan{nullptr, dbuf.span().data, 4096}, path); }},
      {"names no device", [&] { h.async_pread(DeviceSpan{nullptr, dbuf.span().data, 4096}, path); }},
      {"has no device", [&] { validate_file_range(DeviceSpan{nullptr, dbuf.span().data, 4096}, path, 0); }},
      {"queue_depth 0", [&] { Handle bad(Config{.queue_depth = 0}); }},
      {"read-only memory", [&] { transfer(Direction::read, std::span<const std::byte>(buf_.span()), path); }},
      {"read-only memory", [&] { h.transfer(Direction::read, std::span<const std::byte>(buf_.span()), path); }},
      {"read-only memory", [&] { h.async_transfer(Direction::read, std::span<const std::byte>(buf_.span()), path); }},
      {"names no device", [&] { h.async_transfer(Direction::write, DeviceSpan{nullptr, dbuf.span().data, 4096}, path); }},
  };
  for (const auto& [expected, call] : calls) {
    try {
      call();
      ADD_FAILURE() << "accepted: expected an error with '" << expected << "'";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  }
  EXPECT_FALSE(std::filesystem::exists(path)) << "a refused call created the file";
}

// Memory that direct I/O cannot use as is (misaligned by one byte) with buffers registered and
// direct I/O required: staged through aligned memory, never handed to the kernel misaligned.
TEST_F(Errors, MisalignedMemoryWithRegisteredBuffersIsStaged) {
  if (!supports_direct(dir_.path())) GTEST_SKIP() << "no direct I/O in " << dir_.path();
  const std::string path = dir_.file("m.swp");
  std::vector<std::byte> mem(kMiB + 1);
  const std::span<std::byte> odd(mem.data() + 1, kMiB);
  fill_pattern(odd, 0, 9);
  Config c;
  c.direct = DirectMode::on;
  c.register_buffers = true;
  c.staging = StageMode::never;
  const OpResult w = write_file(odd, path, c);
  EXPECT_TRUE(w.staged);
  EXPECT_EQ(first_pattern_mismatch(read_plain(path), 0, 9), -1);
  std::fill(mem.begin(), mem.end(), std::byte{0});
  EXPECT_TRUE(read_file(odd, path, c).staged);
  EXPECT_EQ(first_pattern_mismatch(odd, 0, 9), -1);
  EXPECT_EQ(mem[0], std::byte{0}) << "a byte before the buffer was written";
}

TEST_F(Errors, ValidationNamesTheFirstDifferingOffset) {
  const std::string path = dir_.file("v.swp");
  fill_pattern(buf_.span(), 0, 2);
  write_file(buf_.span(), path);
  buf_.data()[5000] ^= std::byte{0xFF};
  try {
    validate_file_range(buf_.span(), path, 0);
    ADD_FAILURE() << "a changed byte passed validation";
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.file_offset(), 5000u);
    EXPECT_NE(std::string(e.what()).find("first difference at file offset 5000"), std::string::npos) << e.what();
  }
}

TEST_F(Errors, WriteNeverTruncatesWhatFollows) {
  const std::string path = dir_.file("keep.swp");
  std::vector<std::byte> content(100000);
  fill_pattern(content, 0, 4);
  write_plain(path, content);
  HostBuffer small(4097);
  fill_pattern(small.span(), 8192, 4);  // the same bytes the file has there: the file must not change
  write_file(small.span(), path, {}, 8192);
  EXPECT_EQ(file_size(path), 100000u);
  EXPECT_EQ(first_pattern_mismatch(read_plain(path), 0, 4), -1);
}

TEST_F(Errors, ZeroLengthOpsSucceedAndMoveNothing) {
  const std::string path = dir_.file("empty.swp");
  const OpResult w = write_file(std::span<const std::byte>{}, path);
  EXPECT_EQ(w.bytes, 0u);
  EXPECT_EQ(file_size(path), 0u);
  const OpResult r = read_file(std::span<std::byte>{}, path);
  EXPECT_EQ(r.bytes, 0u);
}

bool is_tmpfs(const char* path) {
  struct statfs fs {};
  return ::statfs(path, &fs) == 0 && fs.f_type == 0x01021994;  // TMPFS_MAGIC
}

TEST(DirectIo, TmpfsFallsBackToBufferedWithAutoAndSaysSo) {
  if (!is_tmpfs("/dev/shm")) GTEST_SKIP() << "/dev/shm is not tmpfs here";
  const std::string path = "/dev/shm/swapio-test-" + std::to_string(::getpid());
  HostBuffer out(100000), in(100000);
  fill_pattern(out.span(), 0, 6);
  const OpResult w = write_file(out.span(), path);
  const OpResult r = read_file(in.span(), path);
  ::unlink(path.c_str());
  EXPECT_FALSE(w.direct);
  EXPECT_FALSE(r.direct);
  EXPECT_NE(w.direct_note.find("buffered I/O"), std::string::npos) << w.direct_note;
  EXPECT_EQ(first_pattern_mismatch(in.span(), 0, 6), -1);
}

TEST(DirectIo, RefusedWithOnIsAnErrorAndWithAutoAFallback) {
  // ramfs refuses O_DIRECT outright. Mounting it needs root (CI runs as root).
  TempDir dir;
  RamfsMount ramfs(dir.path());
  if (!ramfs.ok()) GTEST_SKIP() << ramfs.why_not();
  const std::string mnt = ramfs.path();
  const std::string path = mnt + "/x.swp";
  std::vector<std::byte> content(8192);
  fill_pattern(content, 0, 8);
  write_plain(path, content);
  HostBuffer buf(8192);
  Config on;
  on.direct = DirectMode::on;
  EXPECT_IO_ERROR(read_file(buf.span(), path, on), EINVAL, "O_DIRECT refused by the filesystem; direct=on requires it");
  const OpResult r = read_file(buf.span(), path);
  EXPECT_FALSE(r.direct);
  EXPECT_NE(r.direct_note.find("O_DIRECT refused"), std::string::npos) << r.direct_note;
  EXPECT_EQ(first_pattern_mismatch(buf.span(), 0, 8), -1);
}

TEST(DirectIo, RunsWhereverTheFilesystemSupportsIt) {
  TempDir dir;
  if (!supports_direct(dir.path())) {
    GTEST_SKIP() << dir.path() << " does not support O_DIRECT: the matrix ran buffered; set SWAPIO_TEST_DIR to a "
                 << "folder on a block device to test the direct path";
  }
  HostBuffer buf(1 << 20);
  Config on;
  on.direct = DirectMode::on;
  const OpResult w = write_file(buf.span(), dir.file("d.swp"), on);
  EXPECT_TRUE(w.direct);
  EXPECT_TRUE(w.preallocated) << "ext4/xfs preallocate with fallocate";
}

TEST(Memory, PinnedBeyondTheMemlockLimitSaysWhy) {
  if (::geteuid() == 0) GTEST_SKIP() << "root is exempt from RLIMIT_MEMLOCK";
  try {
    HostBuffer big(std::size_t{4} << 30, MemoryKind::pinned);
    GTEST_SKIP() << "the memlock limit allowed 4 GiB";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("RLIMIT_MEMLOCK"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace swapio::test
