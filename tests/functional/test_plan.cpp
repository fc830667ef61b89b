// The request planner against a simple oracle: requests cover the range exactly once, the body
// is aligned where direct I/O needs it, and slices tile the op.
#include <gtest/gtest.h>

#include <random>

#include "swapio/detail/plan.hpp"

namespace swapio::detail {
namespace {

void check_plan(const PlanInput& in) {
  const Plan p = make_plan(in);
  SCOPED_TRACE("offset " + std::to_string(in.offset) + " length " + std::to_string(in.length) + " block " +
               std::to_string(in.block_size) + " direct " + std::to_string(in.direct));
  ASSERT_LE(in.offset, p.body_begin);
  ASSERT_LE(p.body_begin, p.body_end);
  ASSERT_LE(p.body_end, in.offset + in.length);
  EXPECT_EQ(p.head_length() + p.body_length() + p.tail_length(), in.length);
  std::uint64_t pos = p.body_begin;
  for (std::uint64_t i = 0; i < p.requests(); ++i) {
    ASSERT_EQ(p.request_offset(i), pos) << "request " << i << " leaves a gap or overlaps";
    ASSERT_GT(p.request_length(i), 0u);
    ASSERT_LE(p.request_length(i), in.block_size);
    if (in.direct) {
      EXPECT_EQ(p.request_offset(i) % 512, 0u);
      EXPECT_EQ(p.request_length(i) % 512, 0u);
    }
    pos += p.request_length(i);
  }
  EXPECT_EQ(pos, p.body_end);
  if (in.direct && p.body_length() > 0) {
    EXPECT_EQ(p.body_begin % in.edge_align, 0u);
    EXPECT_EQ(p.body_end % in.edge_align, 0u);
    EXPECT_LT(p.head_length(), in.edge_align);
    EXPECT_LT(p.tail_length(), in.edge_align);
    const bool aligned = (in.address + (p.body_begin - in.offset)) % in.mem_align == 0;
    EXPECT_EQ(p.staged, !aligned || in.block_size % in.mem_align != 0);
  }
  if (!in.direct) {
    EXPECT_EQ(p.head_length() + p.tail_length(), 0u);
    EXPECT_FALSE(p.staged);
  }
}

TEST(Plan, EdgeCases) {
  PlanInput in;
  in.direct = true;
  in.edge_align = 4096;
  in.mem_align = 512;
  in.block_size = 16384;
  in.address = 1u << 21;
  for (std::uint64_t off : {0ull, 1ull, 511ull, 4095ull, 4096ull, 1234ull}) {
    for (std::uint64_t len : {0ull, 1ull, 4095ull, 4096ull, 4097ull, 16383ull, 16384ull, 16385ull, 100000ull}) {
      in.offset = off;
      in.length = len;
      check_plan(in);
    }
  }
}

TEST(Plan, AlignedOpHasNoEdges) {
  PlanInput in{.offset = 8192, .length = 3 * 16384, .address = 1u << 21, .block_size = 16384, .direct = true,
               .edge_align = 4096, .mem_align = 512};
  const Plan p = make_plan(in);
  EXPECT_EQ(p.head_length(), 0u);
  EXPECT_EQ(p.tail_length(), 0u);
  EXPECT_EQ(p.requests(), 3u);
  EXPECT_FALSE(p.staged);
}

TEST(Plan, MisalignedMemoryIsStaged) {
  PlanInput in{.offset = 0, .length = 65536, .address = (1u << 21) + 3, .block_size = 16384, .direct = true,
               .edge_align = 4096, .mem_align = 512};
  EXPECT_TRUE(make_plan(in).staged);
}

TEST(Plan, RandomAgainstOracle) {
  std::mt19937_64 rng(12345);
  for (int i = 0; i < 20000; ++i) {
    PlanInput in;
    in.direct = rng() % 2;
    in.edge_align = 4096u << (rng() % 2);
    in.mem_align = 512u << (rng() % 4);
    in.block_size = 512u * (1 + rng() % 64);
    in.offset = rng() % (1u << 22);
    in.length = rng() % (1u << 20);
    in.address = (rng() % 2) ? (1u << 21) + (rng() % 4096) : (1u << 21);
    check_plan(in);
    if (HasFatalFailure()) return;
  }
}

TEST(SplitSlices, TileTheRangeWithAlignedInnerBoundaries) {
  std::mt19937_64 rng(99);
  for (int i = 0; i < 20000; ++i) {
    const std::uint64_t off = rng() % 100000, len = rng() % 300000, unit = 512u << (rng() % 4);
    const unsigned parts = 1 + static_cast<unsigned>(rng() % 8);
    const auto slices = split_slices(off, len, parts, unit);
    ASSERT_LE(slices.size(), parts);
    std::uint64_t pos = off;
    for (std::size_t k = 0; k < slices.size(); ++k) {
      ASSERT_EQ(slices[k].offset, pos);
      ASSERT_GT(slices[k].length, 0u);
      if (k > 0) {
        ASSERT_EQ(slices[k].offset % unit, 0u) << "inner boundary not aligned";
      }
      pos += slices[k].length;
    }
    ASSERT_EQ(pos, off + len);
  }
}

TEST(SplitSlices, AnySizeSplitsEvenly) {
  // DeepSpeed rejects sizes not divisible by its thread count; here any size splits.
  const auto s = split_slices(0, 10 * 4096 + 7, 3, 4096);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].length, 4 * 4096u);
  EXPECT_EQ(s[1].length, 3 * 4096u);
  EXPECT_EQ(s[2].length, 3 * 4096u + 7);
}

}  // namespace
}  // namespace swapio::detail
