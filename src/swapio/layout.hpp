// The physical layout of I/O memory: how much of it is physically contiguous in >= 2 MiB pieces.
// That decides how many DMA segments a request needs: a 1 MiB request over scattered 4 KiB pages
// is 256 segments, more than a virtio disk takes (254) and more than many NVMe controllers take
// in one command, so every such request is split. HostBuffer memory is made of 2 MiB huge pages
// (one or two segments per request); memory from malloc or a framework's allocator often is not.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>

namespace swapio {

struct PhysicalLayout {
  // Where the figures come from: "pagemap" (physical frame numbers: root or CAP_SYS_ADMIN),
  // "smaps" (which pages are transparent huge pages: any user), "" (neither was readable).
  std::string source;
  // Fraction of the bytes in physically contiguous runs of at least 2 MiB (or filling the span's
  // partial 2 MiB piece at either end). From smaps it is the fraction backed by huge pages.
  double contiguous_2m = 0;
  // Fraction backed by transparent huge pages; unset when smaps could not be read. Where a
  // mapping reaches past the span its huge pages are shared out in proportion: an estimate.
  std::optional<double> huge_pages;
  // The most physical pieces any 1 MiB of the memory (from its start) spans: the segments a
  // 1 MiB request needs. 0 where physical addresses are not readable.
  std::size_t worst_segments_per_mib = 0;

  bool measured() const noexcept { return !source.empty(); }
};

// Looks at the memory as it is mapped now; pages not present count as not contiguous. Reads
// /proc/self/pagemap and /proc/self/smaps; never throws for what it cannot read (the result says
// what it saw). Costs about 6 ms per GiB.
PhysicalLayout physical_layout(std::span<const std::byte> memory);

}  // namespace swapio
