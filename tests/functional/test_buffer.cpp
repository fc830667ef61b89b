// Host buffers: 2 MiB-aligned, huge-page-advised, prefaulted; pinned ones locked; move-only.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "support.hpp"
#include "swapio/buffer.hpp"

namespace swapio {
namespace {

using test::thp_allowed;

std::uint64_t locked_kib() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmLck:") {
      std::uint64_t kib = 0;
      status >> kib;
      return kib;
    }
    status.ignore(1 << 12, '\n');
  }
  return 0;
}

TEST(HostBuffer, IsTwoMiBAlignedAndWritable) {
  HostBuffer b(3 * 1024 * 1024 + 5);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % HostBuffer::kAlignment, 0u);
  EXPECT_EQ(b.size(), 3u * 1024 * 1024 + 5);
  EXPECT_EQ(b.kind(), MemoryKind::aligned);
  b.data()[b.size() - 1] = std::byte{1};
  if (thp_allowed()) {
    EXPECT_TRUE(b.huge_pages_advised());
  }
}

TEST(HostBuffer, PinnedIsLocked) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizer runtimes turn mlock into a no-op";
#endif
  const std::uint64_t before = locked_kib();
  {
    HostBuffer b(4 * 1024 * 1024, MemoryKind::pinned);
    EXPECT_EQ(b.kind(), MemoryKind::pinned);
    EXPECT_GE(locked_kib(), before + 4096);
  }
  EXPECT_EQ(locked_kib(), before) << "freed buffers are unlocked";
}

TEST(HostBuffer, MovesOwnership) {
  HostBuffer a(4096);
  std::byte* p = a.data();
  HostBuffer b(std::move(a));
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_EQ(a.size(), 0u);
  HostBuffer c;
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
  EXPECT_TRUE(b.empty());
}

TEST(HostBuffer, ZeroSizeHasNoMemory) {
  HostBuffer b(0);
  EXPECT_EQ(b.data(), nullptr);
  EXPECT_TRUE(b.empty());
}

}  // namespace
}  // namespace swapio
