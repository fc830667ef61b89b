// Nothing lost at the edges of a write: a path with a NUL byte is refused before anything is
// opened (the system would read the name only up to the NUL, and write another file), and a
// write that fails gives back what it took — the file it created is removed, a file it grew gets
// its old size back — through every API, on real ENOSPC (ext4, ext2 on a loop device) and on
// injected faults.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "expect.hpp"
#include "support.hpp"
#include "swapio/fault.hpp"
#include "swapio/swapio.hpp"

namespace swapio::test {
namespace {

using namespace std::string_literals;

enum class Api { basic, handle, async };

std::string api_name(const ::testing::TestParamInfo<Api>& p) {
  switch (p.param) {
    case Api::basic: return "basic";
    case Api::handle: return "handle";
    default: return "async";
  }
}

// A write through api; throws what the op throws (async: what wait() reports).
void write_with(Api api, std::span<const std::byte> data, const std::string& path, std::uint64_t offset,
                const Config& config = {}) {
  switch (api) {
    case Api::basic: (void)write_file(data, path, config, offset); return;
    case Api::handle: (void)Handle(config).pwrite(data, path, offset); return;
    case Api::async: {
      Handle h(config);
      (void)h.wait(h.async_pwrite(data, path, offset));
      return;
    }
  }
}

// Faults: request `first` (counted over `op`) fails with err, or is held back for `delay`.
FaultRule rule_at(FaultKind kind, std::uint64_t first, FaultOp op) {
  FaultRule r;
  r.kind = kind;
  r.first = first;
  r.op = op;
  return r;
}
FaultRule fail_at(std::uint64_t first, int err, FaultOp op = FaultOp::any) {
  FaultRule r = rule_at(FaultKind::error, first, op);
  r.error = err;
  return r;
}
FaultRule delay_at(std::uint64_t first, std::chrono::milliseconds delay, FaultOp op) {
  FaultRule r = rule_at(FaultKind::delay, first, op);
  r.delay = delay;
  return r;
}

std::vector<std::byte> pattern(std::size_t n, std::uint64_t seed) {
  std::vector<std::byte> v(n);
  fill_pattern(v, 0, seed);
  return v;
}

// Space given back, give or take a few blocks of the filesystem's own metadata (an extent tree
// keeps a block after the file is cut back).
constexpr std::uint64_t kMetadataSlack = 64 * 1024;

class GiveBack : public ::testing::TestWithParam<Api> {
 protected:
  TempDir dir_;
};

INSTANTIATE_TEST_SUITE_P(Apis, GiveBack, ::testing::Values(Api::basic, Api::handle, Api::async), api_name);

TEST_P(GiveBack, APathWithANulByteIsRefusedBeforeAnythingIsOpened) {
  const std::string victim = dir_.file("victim");
  const std::vector<std::byte> old = pattern(8192, 1);
  write_plain(victim, old);
  const std::vector<std::byte> data = pattern(4096, 2);
  EXPECT_CONFIG_ERROR(write_with(GetParam(), data, victim + "\0.swp"s, 0), "NUL byte (at byte " + std::to_string(victim.size()) + ")");
  EXPECT_CONFIG_ERROR(write_with(GetParam(), data, dir_.file("a\0b"s), 0), "\\0b' holds a NUL byte");
  EXPECT_EQ(read_plain(victim), old) << "the file named before the NUL was written";
  EXPECT_FALSE(std::filesystem::exists(dir_.file("a"))) << "the name before the NUL was created";
  std::vector<std::byte> in(4096);
  Handle h;
  EXPECT_CONFIG_ERROR((void)h.pread(in, victim + "\0"s), "NUL byte");
  EXPECT_CONFIG_ERROR((void)read_file(in, victim + "\0"s), "NUL byte");
}

TEST(GiveBackPaths, EveryPublicEntryPointRefusesANulByte) {
  TempDir dir;
  const std::string bad = dir.file("x\0y"s);
  std::vector<std::byte> buf(4096);
  EXPECT_CONFIG_ERROR((void)File::open(bad, Access::write, DirectMode::automatic), "NUL byte");
  EXPECT_CONFIG_ERROR((void)direct_offset_alignment(dir.path() + "\0/x"s, DirectMode::automatic), "NUL byte");
  EXPECT_CONFIG_ERROR(validate_file_range(std::span<const std::byte>(buf), bad, 0), "NUL byte");
  Config atomic;
  atomic.atomic_replace = true;
  EXPECT_CONFIG_ERROR((void)write_file(buf, bad, atomic), "NUL byte");
  EXPECT_EQ(remove_replacement_temporaries(bad, 1), 0u);
  EXPECT_FALSE(std::filesystem::exists(dir.file("x")));
}

// An I/O error in the middle of a write: the file it made is gone, the file it grew is back to
// its size (what it already overwrote in place stays overwritten, as the README says).
TEST_P(GiveBack, AFailedWriteRemovesTheFileItCreatedAndCutsBackTheFileItGrew) {
  Config c;
  c.block_size = 64 * 1024;
  c.faults = std::make_shared<FaultInjector>(std::vector<FaultRule>{fail_at(3, ENOSPC)});
  const std::vector<std::byte> data = pattern(1 << 20, 3);
  const std::string fresh = dir_.file("fresh.swp");
  EXPECT_IO_ERROR(write_with(GetParam(), data, fresh, 0, c), ENOSPC, "the file it created is removed");
  EXPECT_FALSE(std::filesystem::exists(fresh)) << "a failed write left the file it created";

  const std::string grown = dir_.file("grown.swp");
  const std::vector<std::byte> old = pattern(300 * 1024, 4);
  write_plain(grown, old);
  c.faults = std::make_shared<FaultInjector>(std::vector<FaultRule>{fail_at(3, ENOSPC)});
  EXPECT_IO_ERROR(write_with(GetParam(), data, grown, 1 << 20, c), ENOSPC, "old size of 300 KiB again");
  EXPECT_EQ(read_plain(grown), old) << "bytes past the range written, or the old content, changed";
}

// On ext4, fallocate fails with ENOSPC after allocating what it could: the file grew and the
// filesystem is full. Both must be given back.
TEST_P(GiveBack, APreallocationThatFailsOnExt4GivesTheSpaceBack) {
  LoopMount fs(dir_.path(), "ext4", "ext4", 64);
  if (!fs.ok()) GTEST_SKIP() << fs.why_not();
  const std::string existing = fs.path() + "/old.swp";
  const std::vector<std::byte> old = pattern(3 << 20, 6);
  write_plain(existing, old);
  const std::uint64_t free_before = fs.free_bytes();
  const std::vector<std::byte> data = pattern(64 << 20, 7);
  EXPECT_IO_ERROR(write_with(GetParam(), data, existing, 0), ENOSPC, "old size of 3 MiB again");
  EXPECT_EQ(file_size(existing), old.size());
  EXPECT_EQ(read_plain(existing), old) << "nothing was written: the preallocation failed first";
  EXPECT_GE(fs.free_bytes() + kMetadataSlack, free_before) << "the space the failed preallocation took was not given back";

  const std::string fresh = fs.path() + "/new.swp";
  EXPECT_IO_ERROR(write_with(GetParam(), data, fresh, 0), ENOSPC, "the file it created is removed");
  EXPECT_FALSE(std::filesystem::exists(fresh));
  EXPECT_GE(fs.free_bytes() + kMetadataSlack, free_before);
  // The next swap on that filesystem has its room.
  EXPECT_NO_THROW(write_with(GetParam(), std::span(data).first(8 << 20), fresh, 0));
}

// ext2 has no fallocate: the file is extended sparse and the write fails midway. The bytes it
// overwrote in place stay overwritten; the growth and the file it created go.
TEST_P(GiveBack, AWriteThatRunsOutOfSpaceOnExt2GivesTheSpaceBack) {
  LoopMount fs(dir_.path(), "ext2", "ext2", 32);
  if (!fs.ok()) GTEST_SKIP() << fs.why_not();
  const std::string existing = fs.path() + "/old.swp";
  write_plain(existing, pattern(1 << 20, 8));
  const std::uint64_t free_before = fs.free_bytes();
  const std::vector<std::byte> data = pattern(48 << 20, 9);
  EXPECT_IO_ERROR(write_with(GetParam(), data, existing, 0), ENOSPC, "old size of 1 MiB again");
  EXPECT_EQ(file_size(existing), 1u << 20);
  EXPECT_GE(fs.free_bytes() + kMetadataSlack, free_before);
  const std::string fresh = fs.path() + "/new.swp";
  EXPECT_IO_ERROR(write_with(GetParam(), data, fresh, 0), ENOSPC, "the file it created is removed");
  EXPECT_FALSE(std::filesystem::exists(fresh));
  EXPECT_GE(fs.free_bytes() + kMetadataSlack, free_before);
}

// Another op of the process wrote the same file meanwhile: cutting the file back could destroy
// what that op wrote, so the failed op leaves the size as it is, and says so.
TEST(GiveBackShared, AFailedWriteLeavesAFileOtherOpsWroteMeanwhile) {
  TempDir dir;
  const std::string path = dir.file("shared.swp");
  Config c;
  c.block_size = 64 * 1024;
  c.faults = std::make_shared<FaultInjector>(std::vector<FaultRule>{
      delay_at(1, std::chrono::milliseconds(300), FaultOp::write), fail_at(3, EIO, FaultOp::write)});
  const std::vector<std::byte> first = pattern(1 << 20, 10), second = pattern(1 << 20, 11);
  Handle h(c);
  const Handle::OpId a = h.async_pwrite(first, path, 0);
  const Handle::OpId b = h.async_pwrite(second, path, 1 << 20);
  std::size_t failed = 0;
  for (const Handle::OpId id : {a, b}) {
    try {
      (void)h.wait(id);
    } catch (const Error& e) {
      ++failed;
      EXPECT_NE(std::string(e.what()).find("other writes of this process"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(failed, 1u);
  EXPECT_EQ(file_size(path), 2u << 20) << "the failed op cut back what the other one wrote";
}

}  // namespace
}  // namespace swapio::test
