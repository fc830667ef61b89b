// The request plan of one slice: which bytes go through the backend as block_size requests
// (the body), which through the buffered edge descriptor (an unaligned head and tail), and
// whether the body must be staged through aligned memory. Pure arithmetic, no I/O.
#pragma once

#include <cstdint>
#include <vector>

namespace swapio::detail {

struct PlanInput {
  std::uint64_t offset = 0;       // file offset of the slice
  std::uint64_t length = 0;       // bytes
  std::uintptr_t address = 0;     // memory address of the slice's first byte
  std::uint64_t block_size = 1;   // at least 1 (Config::validate checks it once per op)
  bool direct = false;
  std::uint32_t edge_align = 1;   // body edges in the file (>= offset alignment, >= a page)
  std::uint32_t mem_align = 1;    // memory alignment for direct I/O
  bool device_memory = false;     // memory the host cannot do I/O into: always staged
  bool stage_memory = false;      // host memory to copy through staging anyway (scattered pages)
};

struct Plan {
  std::uint64_t offset = 0, length = 0;
  std::uint64_t body_begin = 0, body_end = 0;  // file offsets; empty when equal
  std::uint64_t block_size = 1;
  bool staged = false;  // body memory is not usable for I/O as is: go through staging

  std::uint64_t head_length() const noexcept { return body_begin - offset; }
  std::uint64_t tail_length() const noexcept { return offset + length - body_end; }
  std::uint64_t body_length() const noexcept { return body_end - body_begin; }
  std::uint64_t requests() const noexcept {
    return (body_length() + block_size - 1) / block_size;
  }
  // File offset and length of body request i.
  std::uint64_t request_offset(std::uint64_t i) const noexcept { return body_begin + i * block_size; }
  std::uint64_t request_length(std::uint64_t i) const noexcept {
    const std::uint64_t off = request_offset(i);
    return body_end - off < block_size ? body_end - off : block_size;
  }
};

Plan make_plan(const PlanInput& in) noexcept;

// The staging ring's layout: `chunks` positions of `per_chunk` requests each, a request every
// `request_stride` bytes (block_size rounded up to the memory alignment). Request i of a staged
// body belongs to chunk i / per_chunk, which uses position chunk % chunks; a position is reused
// only when its previous chunk is finished.
struct RingLayout {
  unsigned chunks = 0;
  std::uint64_t per_chunk = 1;
  std::uint64_t request_stride = 0;

  std::uint64_t chunk_stride() const noexcept { return per_chunk * request_stride; }
  std::uint64_t bytes() const noexcept { return chunks * chunk_stride(); }
  std::uint64_t chunk_of(std::uint64_t index) const noexcept { return index / per_chunk; }
  // Offset of request `index`'s staging memory from the ring's base.
  std::uint64_t offset_of(std::uint64_t index) const noexcept {
    return chunk_of(index) % chunks * chunk_stride() + index % per_chunk * request_stride;
  }
};

// chunk_size bytes per position rounded up to whole blocks (at least one); block_size >= 1.
RingLayout make_ring_layout(std::uint64_t block_size, std::uint32_t mem_align, std::uint64_t chunk_size,
                            unsigned chunks) noexcept;

struct Slice {
  std::uint64_t offset = 0;  // file offset
  std::uint64_t length = 0;
};

// Splits [offset, offset+length) into at most `parts` contiguous slices of near-equal size whose
// inner boundaries are multiples of `unit` in the file. Any length works; empty slices are dropped.
std::vector<Slice> split_slices(std::uint64_t offset, std::uint64_t length, unsigned parts,
                                std::uint64_t unit);

}  // namespace swapio::detail
