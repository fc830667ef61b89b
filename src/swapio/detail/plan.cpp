#include "swapio/detail/plan.hpp"

#include <algorithm>

namespace swapio::detail {
namespace {

constexpr std::uint64_t round_up(std::uint64_t v, std::uint64_t a) noexcept { return (v + a - 1) / a * a; }
constexpr std::uint64_t round_down(std::uint64_t v, std::uint64_t a) noexcept { return v / a * a; }

}  // namespace

Plan make_plan(const PlanInput& in) noexcept {
  Plan p;
  p.offset = in.offset;
  p.length = in.length;
  p.block_size = in.block_size;
  p.staged = in.device_memory || in.stage_memory;
  const std::uint64_t end = in.offset + in.length;
  if (!in.direct) {
    p.body_begin = in.offset;
    p.body_end = end;
    return p;
  }
  const std::uint64_t a = in.edge_align == 0 ? 1 : in.edge_align;
  const std::uint64_t begin = round_up(in.offset, a);
  const std::uint64_t stop = round_down(end, a);
  if (begin >= stop) {  // no aligned unit inside: all of it is head
    p.body_begin = p.body_end = end;
    return p;
  }
  p.body_begin = begin;
  p.body_end = stop;
  const std::uint64_t m = in.mem_align == 0 ? 1 : in.mem_align;
  const std::uintptr_t body_address = in.address + (begin - in.offset);
  p.staged = p.staged || body_address % m != 0 || p.block_size % m != 0;
  return p;
}

RingLayout make_ring_layout(std::uint64_t block_size, std::uint32_t mem_align, std::uint64_t chunk_size,
                            unsigned chunks) noexcept {
  RingLayout r;
  r.request_stride = round_up(block_size, mem_align == 0 ? 1 : mem_align);
  r.chunks = chunks;
  r.per_chunk = std::max<std::uint64_t>(1, (chunk_size + block_size - 1) / block_size);
  return r;
}

std::vector<Slice> split_slices(std::uint64_t offset, std::uint64_t length, unsigned parts,
                                std::uint64_t unit) {
  std::vector<Slice> out;
  if (length == 0) return out;
  if (parts == 0) parts = 1;
  if (unit == 0) unit = 1;
  const std::uint64_t end = offset + length;
  const std::uint64_t share = length / parts, rest = length % parts;
  std::uint64_t begin = offset;
  for (unsigned k = 1; k <= parts; ++k) {
    std::uint64_t b = end;
    if (k < parts) {
      // offset + length*k/parts without overflow, then up to the unit.
      b = offset + share * k + rest * k / parts;
      b = std::clamp(round_up(b, unit), begin, end);
    }
    if (b > begin) out.push_back(Slice{begin, b - begin});
    begin = b;
  }
  return out;
}

}  // namespace swapio::detail
