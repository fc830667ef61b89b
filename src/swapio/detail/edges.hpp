// The unaligned head and tail of a slice: moved with plain pread/pwrite on the file's buffered
// edge descriptor, page-disjoint from the direct body. Device memory bounces through host memory.
#pragma once

#include <cstddef>
#include <cstdint>

#include "swapio/detail/slice_stats.hpp"
#include "swapio/device.hpp"
#include "swapio/file.hpp"
#include "swapio/tensor.hpp"

namespace swapio::detail {

// Moves [offset, offset+length) of file to/from host memory at mem. Throws swapio::Error.
void move_edge(const File& file, Direction direction, std::byte* mem, std::uint64_t offset, std::uint64_t length,
               SliceStats& stats);

// The same for device memory, through `bounce` (bounce_bytes of host memory) in pieces, each
// copied on `stream`. Throws swapio::Error.
void move_device_edge(const File& file, Direction direction, DeviceStream& stream, std::byte* bounce,
                      std::size_t bounce_bytes, std::byte* device_mem, std::uint64_t offset, std::uint64_t length,
                      SliceStats& stats);

}  // namespace swapio::detail
