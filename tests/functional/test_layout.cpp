// The physical layout of I/O memory as physical_layout() sees it: HostBuffers in 2 MiB pieces,
// scattered small pages seen as scattered, pages not present as not contiguous.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/utsname.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "swapio/buffer.hpp"
#include "swapio/layout.hpp"

namespace swapio {
namespace {

constexpr std::size_t kMiB = 1u << 20;

bool thp_allowed() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string s;
  std::getline(f, s);
  return s.find("[never]") == std::string::npos && !s.empty();
}

// MADV_COLLAPSE (Linux 6.1) makes huge pages even where THP is "never".
bool kernel_collapses() {
  struct utsname u {};
  int major = 0, minor = 0;
  return ::uname(&u) == 0 && std::sscanf(u.release, "%d.%d", &major, &minor) == 2 && (major > 6 || (major == 6 && minor >= 1));
}

// An anonymous mapping, unmapped at the end of the test.
struct Mapping {
  std::byte* p = nullptr;
  std::size_t n = 0;
  explicit Mapping(std::size_t size) : n(size) {
    void* m = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m != MAP_FAILED) p = static_cast<std::byte*>(m);
  }
  ~Mapping() {
    if (p != nullptr) ::munmap(p, n);
  }
};

TEST(Layout, HostBufferIsContiguousInTwoMiBPieces) {
  if (!thp_allowed() && !kernel_collapses()) GTEST_SKIP() << "no transparent huge pages on this kernel";
  const HostBuffer b(64 * kMiB);
  const PhysicalLayout l = physical_layout(b.span());
  ASSERT_TRUE(l.measured()) << "neither /proc/self/pagemap nor /proc/self/smaps was readable";
  EXPECT_GE(l.huge_pages, 0.99) << "source " << l.source;
  EXPECT_GE(l.contiguous_2m, 0.99) << "source " << l.source;
  if (l.source == "pagemap") {
    EXPECT_GE(l.worst_segments_per_mib, 1u);
    EXPECT_LE(l.worst_segments_per_mib, 2u);
  }
}

// Small pages touched in turn with a decoy's: no two neighbours are physical neighbours.
TEST(Layout, ScatteredPagesAreSeenAsScattered) {
  Mapping m(8 * kMiB), decoy(8 * kMiB);
  ASSERT_NE(m.p, nullptr);
  ASSERT_NE(decoy.p, nullptr);
  ASSERT_EQ(::madvise(m.p, m.n, MADV_NOHUGEPAGE), 0);
  ASSERT_EQ(::madvise(decoy.p, decoy.n, MADV_NOHUGEPAGE), 0);
  for (std::size_t off = 0; off < m.n; off += 4096) {
    reinterpret_cast<volatile char*>(m.p)[off] = 1;
    reinterpret_cast<volatile char*>(decoy.p)[off] = 1;
  }
  const PhysicalLayout l = physical_layout({m.p, m.n});
  ASSERT_TRUE(l.measured());
  EXPECT_EQ(l.huge_pages, 0.0);
  EXPECT_LT(l.contiguous_2m, 0.25);
  if (l.source != "pagemap") GTEST_SKIP() << "physical addresses need CAP_SYS_ADMIN: only huge pages were checked";
  EXPECT_GT(l.worst_segments_per_mib, 128u);
}

TEST(Layout, PagesNotPresentAreNotContiguous) {
  Mapping m(4 * kMiB);
  ASSERT_NE(m.p, nullptr);
  const PhysicalLayout l = physical_layout({m.p, m.n});
  ASSERT_TRUE(l.measured());
  EXPECT_EQ(l.contiguous_2m, 0.0);
  EXPECT_EQ(l.huge_pages, 0.0);
}

TEST(Layout, EmptyMemoryIsNotMeasured) {
  EXPECT_FALSE(physical_layout({}).measured());
}

// Where the fault path alone gives small pages (THP "never" here), the buffer still gets huge
// pages: it collapses them. Changing the system's THP mode is not a test's to do, so this checks
// the machine as it is set.
TEST(Layout, HostBufferGetsHugePagesInEveryTHPMode) {
  if (!kernel_collapses()) GTEST_SKIP() << "MADV_COLLAPSE needs Linux 6.1";
  const HostBuffer b(8 * kMiB);
  const PhysicalLayout l = physical_layout(b.span());
  ASSERT_TRUE(l.measured());
  EXPECT_GE(l.huge_pages, 0.99) << (thp_allowed() ? "THP allowed" : "THP never");
}

}  // namespace
}  // namespace swapio
