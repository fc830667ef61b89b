// The physical layout of I/O memory as physical_layout() sees it: HostBuffers in 2 MiB pieces,
// scattered small pages seen as scattered, pages not present as not contiguous.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "support.hpp"
#include "swapio/buffer.hpp"
#include "swapio/detail/huge_mapping.hpp"
#include "swapio/layout.hpp"

namespace swapio {
namespace {

using test::huge_pages_possible;
using test::kernel_collapses;
using test::thp_allowed;

constexpr std::size_t kMiB = 1u << 20;

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
  if (!huge_pages_possible()) GTEST_SKIP() << "no transparent huge pages on this kernel";
  const HostBuffer b(64 * kMiB);
  const PhysicalLayout l = physical_layout(b.span());
  ASSERT_TRUE(l.measured()) << "neither /proc/self/pagemap nor /proc/self/smaps was readable";
  ASSERT_TRUE(l.huge_pages.has_value());
  EXPECT_GE(*l.huge_pages, 0.99) << "source " << l.source;
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
  EXPECT_EQ(l.huge_pages.value_or(-1), 0.0);
  EXPECT_LT(l.contiguous_2m, 0.25);
  if (l.source != "pagemap") GTEST_SKIP() << "physical addresses need CAP_SYS_ADMIN: only huge pages were checked";
  EXPECT_GT(l.worst_segments_per_mib, 128u);
}

TEST(Layout, PagesNotPresentAreNotContiguous) {
  Mapping m(4 * kMiB);
  ASSERT_NE(m.p, nullptr);
  PhysicalLayout l = physical_layout({m.p, m.n});
  ASSERT_TRUE(l.measured());
  EXPECT_EQ(l.contiguous_2m, 0.0);
  EXPECT_EQ(l.huge_pages.value_or(-1), 0.0);
  // Half of it present: at most that half counts (physical frames need CAP_SYS_ADMIN to read).
  for (std::size_t off = 0; off < m.n / 2; off += 4096) reinterpret_cast<volatile char*>(m.p)[off] = 1;
  l = physical_layout({m.p, m.n});
  if (l.source != "pagemap") GTEST_SKIP() << "physical addresses need CAP_SYS_ADMIN";
  EXPECT_LE(l.contiguous_2m, 0.5);
}

// A span that is not whole 2 MiB pieces (a small tensor, the end of a larger one, a view that
// starts inside a huge page) counts its partial pieces as contiguous when they are.
TEST(Layout, PartialTwoMiBPiecesAtTheEndsCount) {
  if (!huge_pages_possible()) GTEST_SKIP() << "no transparent huge pages on this kernel";
  for (const std::size_t size : {kMiB, 5 * kMiB, 4096 * std::size_t{3}}) {
    const HostBuffer b(size);
    const PhysicalLayout l = physical_layout(b.span());
    if (l.source != "pagemap") GTEST_SKIP() << "physical addresses need CAP_SYS_ADMIN";
    EXPECT_GE(l.contiguous_2m, 0.99) << size << " bytes";
  }
  const HostBuffer b(8 * kMiB);
  const PhysicalLayout view = physical_layout(b.span().subspan(kMiB + 4096, 3 * kMiB));
  EXPECT_GE(view.contiguous_2m, 0.99) << "a view starting inside a huge page";
}

// map_huge, HostBuffer's layout, for any length (the perf suite's ceiling hands it fio's, which
// is not whole pages): a 2 MiB-aligned start, the slack on both sides unmapped, huge pages.
TEST(Layout, MapHugeTakesAnyLength) {
  const std::size_t len = 32 * kMiB + 4096 + 1022;
  const detail::HugeMapping m =
      detail::map_huge(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, ::mmap);
  ASSERT_NE(m.data, nullptr) << std::strerror(m.error);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(m.data) % detail::kHugePage, 0u);
  EXPECT_TRUE(m.trimmed) << "the slack around the mapping was not unmapped";
  static_cast<char*>(m.data)[len - 1] = 1;
  if (huge_pages_possible()) {
    const PhysicalLayout l = physical_layout({static_cast<std::byte*>(m.data), 32 * kMiB});
    EXPECT_GE(l.huge_pages.value_or(0), 0.99);
  }
  EXPECT_EQ(::munmap(m.data, len), 0);
  EXPECT_EQ(detail::map_huge(0, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, ::mmap).error, EINVAL);
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
  ASSERT_TRUE(l.huge_pages.has_value());
  EXPECT_GE(*l.huge_pages, 0.99) << (thp_allowed() ? "THP allowed" : "THP never");
}

}  // namespace
}  // namespace swapio
