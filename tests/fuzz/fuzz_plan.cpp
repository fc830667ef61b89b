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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const bool direct = in.ConsumeBool();
  const std::uint32_t offset_align = 512u << in.ConsumeIntegralInRange(0, 7);  // 512 B .. 64 KiB
  const std::uint32_t edge_align = std::max<std::uint32_t>(offset_align, 4096);
  const std::uint32_t mem_align = in.ConsumeBool() ? offset_align : 1u << in.ConsumeIntegralInRange(0, 16);
  const std::uint64_t offset = in.ConsumeIntegralInRange<std::uint64_t>(0, std::uint64_t{1} << 50);
  const std::uint64_t length = in.ConsumeIntegralInRange<std::uint64_t>(0, std::uint64_t{1} << 40);
  std::uint64_t block = in.ConsumeBool() ? std::uint64_t{offset_align} * in.ConsumeIntegralInRange<std::uint64_t>(1, 4096)
                                         : in.ConsumeIntegralInRange<std::uint64_t>(1, swapio::kMaxBlockSize);
  const unsigned parts = in.ConsumeIntegralInRange<unsigned>(1, swapio::kMaxParallelism);
  const unsigned depth = in.ConsumeIntegralInRange<unsigned>(1, 256);
  const unsigned chunks = in.ConsumeIntegralInRange<unsigned>(2, 64);
  const std::uint64_t chunk_size = in.ConsumeIntegralInRange<std::uint64_t>(1, std::uint64_t{64} << 20);
  const std::uintptr_t base = in.ConsumeIntegral<std::uintptr_t>() >> 8;
  const bool device = in.ConsumeBool();
  const bool stage = in.ConsumeBool();

  const std::uint64_t end = offset + length;
  const std::uint64_t unit = direct ? edge_align : 4096;
  const auto slices = swapio::detail::split_slices(offset, length, parts, unit);
  expect(slices.size() <= parts, "more slices than parts", slices.size(), parts);
  expect(length == 0 || !slices.empty(), "no slice for a non-empty range", length);

  // Every slice's edges are checked; the walk over requests and the staging ring (the costly
  // parts) for the first three, the last three and one chosen by the input, so that each input
  // runs in well under a millisecond.
  const std::size_t chosen = in.ConsumeIntegralInRange<std::size_t>(0, slices.empty() ? 0 : slices.size() - 1);
  bool ring_checked = false;
  std::uint64_t covered = offset;  // every byte before this is covered exactly once
  for (std::size_t k = 0; k < slices.size(); ++k) {
    const bool walk = k < 3 || k + 3 >= slices.size() || k == chosen;
    const auto& s = slices[k];
    expect(s.offset == covered && s.length > 0, "slices leave a gap, overlap or are empty", s.offset, covered);
    if (k + 1 < slices.size()) expect((s.offset + s.length) % unit == 0, "inner slice boundary off the unit", s.offset + s.length, unit);

    swapio::detail::PlanInput pi;
    pi.offset = s.offset;
    pi.length = s.length;
    pi.address = base + (s.offset - offset);
    pi.block_size = block;
    pi.direct = direct;
    pi.edge_align = edge_align;
    pi.mem_align = mem_align;
    pi.device_memory = device;
    pi.stage_memory = stage;
    const Plan p = swapio::detail::make_plan(pi);
    const std::uint64_t s_end = s.offset + s.length;
    expect(p.offset == s.offset && p.length == s.length, "plan of another range");
    expect(s.offset <= p.body_begin && p.body_begin <= p.body_end && p.body_end <= s_end, "body outside its slice",
           p.body_begin, p.body_end);
    expect(p.head_length() + p.body_length() + p.tail_length() == s.length, "head + body + tail != slice");
    if (device || stage) expect(p.staged, "device or staged memory not staged");
    if (!direct) {
      expect(p.body_begin == s.offset && p.body_end == s_end, "buffered slice with a head or tail");
    } else if (p.body_length() > 0) {
      expect(p.body_begin % edge_align == 0 && p.body_end % edge_align == 0, "direct body edges unaligned",
             p.body_begin, p.body_end);
      expect(p.head_length() < edge_align && p.tail_length() < edge_align, "head or tail holds an aligned unit",
             p.head_length(), p.tail_length());
      const std::uintptr_t body_address = pi.address + (p.body_begin - s.offset);
      if (!p.staged) {
        expect(body_address % mem_align == 0 && block % mem_align == 0, "unstaged direct memory misaligned",
               body_address, mem_align);
      }
    } else {
      // No aligned unit inside: all of it goes buffered as the head.
      const std::uint64_t first = (s.offset + edge_align - 1) / edge_align * edge_align;
      expect(first + edge_align > s_end, "a direct slice with an aligned unit has no body", s.offset, s_end);
    }

    // The body's requests: back to back, each 1..block bytes, the last ending at the body's end.
    std::uint64_t next = p.body_begin, total = 0;
    bool walked_all = true;
    if (walk) each_request(p, [&](std::uint64_t i) {
      const std::uint64_t off = p.request_offset(i), len = p.request_length(i);
      if (off != next) walked_all = false;
      expect(len >= 1 && len <= block, "request length out of range", i, len);
      expect(i + 1 == p.requests() || len == block, "short request before the last", i, len);
      expect(off + len <= p.body_end, "request past the body", i, off);
      if (direct && block % offset_align == 0) expect(off % offset_align == 0, "direct request unaligned", i, off);
      next = off + len;
      total += len;
    });
    if (walk && walked_all) expect(total == p.body_length(), "requests do not cover the body", total, p.body_length());
    if (walk) expect(p.requests() == 0 || next == p.body_end, "last request does not end the body", next, p.body_end);

    // The staging ring, when the body is staged: requests that can be in flight together
    // (within the queue depth, and within `chunks` chunks of each other) use disjoint memory.
    if (walk && !ring_checked && p.staged && p.requests() > 0) {
      ring_checked = true;
      const auto ring = swapio::detail::make_ring_layout(block, mem_align, chunk_size, chunks);
      expect(ring.request_stride >= block && ring.request_stride % mem_align == 0, "ring stride", ring.request_stride);
      const std::uint64_t n = std::min<std::uint64_t>(p.requests(), 1024);
      for (std::uint64_t i = 0; i < n; ++i) {
        const std::uint64_t oi = ring.offset_of(i);
        expect(oi % mem_align == 0, "staging memory unaligned", i, oi);
        expect(oi + p.request_length(i) <= ring.bytes(), "staging past the ring", i, oi);
        for (std::uint64_t j = i + 1; j < n && j < i + depth; ++j) {
          if (ring.chunk_of(j) - ring.chunk_of(i) >= chunks) break;
          const std::uint64_t oj = ring.offset_of(j);
          expect(oi + p.request_length(i) <= oj || oj + p.request_length(j) <= oi, "in-flight requests share staging", i, j);
        }
      }
    }
    covered = s_end;
  }
  expect(covered == end || length == 0, "slices do not reach the end", covered, end);
  return 0;
}
