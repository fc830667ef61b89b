// Memory laid out for DMA: a private anonymous mapping that starts on a 2 MiB boundary, advised
// for huge pages, every page faulted in, and small pages collapsed into huge ones where the faults
// did not get huge pages. HostBuffer's memory, and (preloaded into fio) the perf suite's ceiling's:
// one layout, so that the ceiling measures what swapio's own buffers get. Depends on nothing but
// the kernel, so that the preloaded library can build it alone.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace swapio::detail {

inline constexpr std::size_t kHugePage = 2u * 1024 * 1024;

using MapFunction = void* (*)(void*, std::size_t, int, int, int, off_t);

struct HugeMapping {
  void* data = nullptr;       // 2 MiB-aligned, `size` bytes; null when the mapping failed
  int error = 0;              // the mapping's errno when it failed
  bool huge_advised = false;  // whether the kernel took MADV_HUGEPAGE (THP "madvise" or "always")
  bool trimmed = true;        // false: unmapping the slack around it failed (it stays mapped, unused)
};

// Maps `size` bytes with `prot` and `flags` (private anonymous) through `map` (an mmap: ::mmap,
// or the next one for an interposer), then lays them out. Never throws. What the kernel refused
// to lay out (no THP, no memory to compact) shows in physical_layout(), not here.
HugeMapping map_huge(std::size_t size, int prot, int flags, MapFunction map) noexcept;

}  // namespace swapio::detail
