// libFuzzer target: the request planner. Random offset, length, block size, parallelism,
// alignment, memory address, queue depth and staging ring, checked against a simple oracle:
// the slices and, within each, the head, the block_size requests of the body and the tail
// cover the range exactly once, in order; with direct I/O the body's edges and requests are
// aligned and unstaged memory is aligned too; the requests a queue can hold in flight at once
// never share staging memory, which stays inside the ring and aligned.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "swapio/config.hpp"
#include "swapio/detail/plan.hpp"

namespace {

using swapio::detail::Plan;

[[noreturn]] void finding(const char* what, std::uint64_t a = 0, std::uint64_t b = 0) {
  std::fprintf(stderr, "%s (%llu, %llu)\n", what, static_cast<unsigned long long>(a), static_cast<unsigned long long>(b));
  std::abort();
}

void expect(bool ok, const char* what, std::uint64_t a = 0, std::uint64_t b = 0) {
  if (!ok) finding(what, a, b);
}

// Walks the requests of a body (all of them up to a bound, else the first and last ones).
template <typename F>
void each_request(const Plan& p, F&& f) {
  const std::uint64_t n = p.requests();
  constexpr std::uint64_t kAll = 4096, kEnds = 64;
  for (std::uint64_t i = 0; i < n; ++i) {
    if (n > kAll && i == kEnds) i = n - kEnds;
    f(i);
  }
}

// What one input asks of the planner: the request's geometry, the memory's, the queue's and the
// staging ring's. Read in a fixed order, so that a committed seed keeps meaning the same case.
struct Case {
  bool direct = false;
  std::uint32_t offset_align = 0, edge_align = 0, mem_align = 0;
  std::uint64_t offset = 0, length = 0, block = 0;
  unsigned parts = 0, depth = 0, chunks = 0;
  std::uint64_t chunk_size = 0;
  std::uintptr_t base = 0;
  bool device = false, stage = false;
};

Case read_case(FuzzedDataProvider& in) {
  Case c;
  c.direct = in.ConsumeBool();
  c.offset_align = 512u << in.ConsumeIntegralInRange(0, 7);  // 512 B .. 64 KiB
  c.edge_align = std::max<std::uint32_t>(c.offset_align, 4096);
  c.mem_align = in.ConsumeBool() ? c.offset_align : 1u << in.ConsumeIntegralInRange(0, 16);
  c.offset = in.ConsumeIntegralInRange<std::uint64_t>(0, std::uint64_t{1} << 50);
  c.length = in.ConsumeIntegralInRange<std::uint64_t>(0, std::uint64_t{1} << 40);
  c.block = in.ConsumeBool() ? std::uint64_t{c.offset_align} * in.ConsumeIntegralInRange<std::uint64_t>(1, 4096)
                             : in.ConsumeIntegralInRange<std::uint64_t>(1, swapio::kMaxBlockSize);
  c.parts = in.ConsumeIntegralInRange<unsigned>(1, swapio::kMaxParallelism);
  c.depth = in.ConsumeIntegralInRange<unsigned>(1, 256);
  c.chunks = in.ConsumeIntegralInRange<unsigned>(2, 64);
  c.chunk_size = in.ConsumeIntegralInRange<std::uint64_t>(1, std::uint64_t{64} << 20);
  c.base = in.ConsumeIntegral<std::uintptr_t>() >> 8;
  c.device = in.ConsumeBool();
  c.stage = in.ConsumeBool();
  return c;
}

// The planner's input for slice `s` of the case's range (its memory where the slice begins).
swapio::detail::PlanInput plan_input(const Case& c, const swapio::detail::Slice& s) {
  swapio::detail::PlanInput pi;
  pi.offset = s.offset;
  pi.length = s.length;
  pi.address = c.base + (s.offset - c.offset);
  pi.block_size = c.block;
  pi.direct = c.direct;
  pi.edge_align = c.edge_align;
  pi.mem_align = c.mem_align;
  pi.device_memory = c.device;
  pi.stage_memory = c.stage;
  return pi;
}

// A slice's plan: head + body + tail is the slice; with direct I/O the body's edges (and its
// memory, unless staged) are aligned, and only an aligned unit's absence leaves no body.
void check_edges(const Case& c, const swapio::detail::PlanInput& pi, const Plan& p) {
  const std::uint64_t s_end = pi.offset + pi.length;
  expect(p.offset == pi.offset && p.length == pi.length, "plan of another range");
  expect(pi.offset <= p.body_begin && p.body_begin <= p.body_end && p.body_end <= s_end, "body outside its slice",
         p.body_begin, p.body_end);
  expect(p.head_length() + p.body_length() + p.tail_length() == pi.length, "head + body + tail != slice");
  if (c.device || c.stage) expect(p.staged, "device or staged memory not staged");
  if (!c.direct) {
    expect(p.body_begin == pi.offset && p.body_end == s_end, "buffered slice with a head or tail");
  } else if (p.body_length() > 0) {
    expect(p.body_begin % c.edge_align == 0 && p.body_end % c.edge_align == 0, "direct body edges unaligned",
           p.body_begin, p.body_end);
    expect(p.head_length() < c.edge_align && p.tail_length() < c.edge_align, "head or tail holds an aligned unit",
           p.head_length(), p.tail_length());
    const std::uintptr_t body_address = pi.address + (p.body_begin - pi.offset);
    if (!p.staged) {
      expect(body_address % c.mem_align == 0 && c.block % c.mem_align == 0, "unstaged direct memory misaligned",
             body_address, c.mem_align);
    }
  } else {
    // No aligned unit inside: all of it goes buffered as the head.
    const std::uint64_t first = (pi.offset + c.edge_align - 1) / c.edge_align * c.edge_align;
    expect(first + c.edge_align > s_end, "a direct slice with an aligned unit has no body", pi.offset, s_end);
  }
}

// The body's requests: back to back, each 1..block bytes, the last ending at the body's end.
void check_requests(const Case& c, const Plan& p) {
  std::uint64_t next = p.body_begin, total = 0;
  bool walked_all = true;
  each_request(p, [&](std::uint64_t i) {
    const std::uint64_t off = p.request_offset(i), len = p.request_length(i);
    if (off != next) walked_all = false;
    expect(len >= 1 && len <= c.block, "request length out of range", i, len);
    expect(i + 1 == p.requests() || len == c.block, "short request before the last", i, len);
    expect(off + len <= p.body_end, "request past the body", i, off);
    if (c.direct && c.block % c.offset_align == 0) expect(off % c.offset_align == 0, "direct request unaligned", i, off);
    next = off + len;
    total += len;
  });
  if (walked_all) expect(total == p.body_length(), "requests do not cover the body", total, p.body_length());
  expect(p.requests() == 0 || next == p.body_end, "last request does not end the body", next, p.body_end);
}

// The staging ring of a staged body: requests that can be in flight together (within the queue
// depth, and within `chunks` chunks of each other) use disjoint memory.
void check_ring(const Case& c, const Plan& p) {
  const auto ring = swapio::detail::make_ring_layout(c.block, c.mem_align, c.chunk_size, c.chunks);
  expect(ring.request_stride >= c.block && ring.request_stride % c.mem_align == 0, "ring stride", ring.request_stride);
  const std::uint64_t n = std::min<std::uint64_t>(p.requests(), 1024);
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t oi = ring.offset_of(i);
    expect(oi % c.mem_align == 0, "staging memory unaligned", i, oi);
    expect(oi + p.request_length(i) <= ring.bytes(), "staging past the ring", i, oi);
    for (std::uint64_t j = i + 1; j < n && j < i + c.depth; ++j) {
      if (ring.chunk_of(j) - ring.chunk_of(i) >= c.chunks) break;
      const std::uint64_t oj = ring.offset_of(j);
      expect(oi + p.request_length(i) <= oj || oj + p.request_length(j) <= oi, "in-flight requests share staging", i, j);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const Case c = read_case(in);
  const std::uint64_t end = c.offset + c.length;
  const std::uint64_t unit = c.direct ? c.edge_align : 4096;
  const auto slices = swapio::detail::split_slices(c.offset, c.length, c.parts, unit);
  expect(slices.size() <= c.parts, "more slices than parts", slices.size(), c.parts);
  expect(c.length == 0 || !slices.empty(), "no slice for a non-empty range", c.length);

  // Every slice's edges are checked; the walk over requests and the staging ring (the costly
  // parts) for the first three, the last three and one chosen by the input, so that each input
  // runs in well under a millisecond.
  const std::size_t chosen = in.ConsumeIntegralInRange<std::size_t>(0, slices.empty() ? 0 : slices.size() - 1);
  bool ring_checked = false;
  std::uint64_t covered = c.offset;  // every byte before this is covered exactly once
  for (std::size_t k = 0; k < slices.size(); ++k) {
    const bool walk = k < 3 || k + 3 >= slices.size() || k == chosen;
    const auto& s = slices[k];
    expect(s.offset == covered && s.length > 0, "slices leave a gap, overlap or are empty", s.offset, covered);
    if (k + 1 < slices.size()) expect((s.offset + s.length) % unit == 0, "inner slice boundary off the unit", s.offset + s.length, unit);
    const swapio::detail::PlanInput pi = plan_input(c, s);
    const Plan p = swapio::detail::make_plan(pi);
    check_edges(c, pi, p);
    if (walk) check_requests(c, p);
    if (walk && !ring_checked && p.staged && p.requests() > 0) {
      ring_checked = true;
      check_ring(c, p);
    }
    covered = s.offset + s.length;
  }
  expect(covered == end || c.length == 0, "slices do not reach the end", covered, end);
  return 0;
}
