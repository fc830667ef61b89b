#include "swapio/layout.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "swapio/file.hpp"

namespace swapio {
namespace {

constexpr std::uint64_t kPfnMask = (1ull << 55) - 1;
constexpr std::uint64_t kPresent = 1ull << 63;

// The fraction of [begin, end) that smaps counts as AnonHugePages; a mapping that reaches past
// the range counts in proportion to its overlap (an estimate there: smaps does not say where in
// a mapping its huge pages are). -1 when smaps cannot be read.
double huge_page_fraction(std::uintptr_t begin, std::uintptr_t end) {
  std::ifstream smaps("/proc/self/smaps");
  if (!smaps) return -1;
  std::string line;
  std::uintptr_t lo = 0, hi = 0;
  bool inside = false;
  double huge = 0;
  while (std::getline(smaps, line)) {
    unsigned long a = 0, b = 0;
    // A mapping's header ("lo-hi perms offset dev inode path") has its first ':' after a space;
    // a field ("Name:   value kB") before one.
    if (std::sscanf(line.c_str(), "%lx-%lx ", &a, &b) == 2 && line.find(':') > line.find(' ')) {
      if (a >= end) break;  // mappings are listed in address order: the rest lie past the range
      lo = a;
      hi = b;
      inside = hi > begin && lo < end;
      continue;
    }
    unsigned long kb = 0;
    if (inside && hi > lo && std::sscanf(line.c_str(), "AnonHugePages: %lu kB", &kb) == 1) {
      const double overlap = static_cast<double>(std::min(hi, end) - std::max(lo, begin)) / static_cast<double>(hi - lo);
      huge += static_cast<double>(kb) * 1024.0 * overlap;
    }
  }
  return std::min(1.0, huge / static_cast<double>(end - begin));
}

// Reads pagemap entries for pages [first, first + count); false if it cannot.
bool read_entries(int fd, std::uintptr_t first, std::size_t count, std::vector<std::uint64_t>& out) {
  out.resize(count);
  auto* p = reinterpret_cast<char*>(out.data());
  std::size_t want = count * sizeof(std::uint64_t);
  auto at = static_cast<off_t>(first * sizeof(std::uint64_t));
  while (want > 0) {
    const ssize_t got = ::pread(fd, p, want, at);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    p += got;
    at += got;
    want -= static_cast<std::size_t>(got);
  }
  return true;
}

}  // namespace

PhysicalLayout physical_layout(std::span<const std::byte> memory) {
  PhysicalLayout l;
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (memory.empty() || page_size <= 0) return l;
  const auto page = static_cast<std::uintptr_t>(page_size);
  const auto begin = reinterpret_cast<std::uintptr_t>(memory.data()) / page * page;
  const auto end = (reinterpret_cast<std::uintptr_t>(memory.data()) + memory.size() + page - 1) / page * page;
  const double huge = huge_page_fraction(begin, end);
  if (huge >= 0) {
    l.source = "smaps";
    l.huge_pages = huge;
    l.contiguous_2m = huge;
  }
  const FileDescriptor fd(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return l;

  // One pass over the pages, a chunk of entries at a time: runs of consecutive frames, and the
  // pieces each 1 MiB window (from the start) is made of. A run counts as contiguous when it
  // is 2 MiB long, or when it fills the span's partial 2 MiB piece at either end (a span that
  // starts or ends inside a huge page cannot hold a longer run there).
  constexpr std::uintptr_t k2m = 2u << 20;
  const std::size_t pages = (end - begin) / page;
  const std::size_t run_2m = k2m / page, per_mib = std::max<std::size_t>((1u << 20) / page, 1);
  // The partial pieces: pages before the first 2 MiB boundary (0 when the span starts on one),
  // and the first page after the last boundary (pages when the span ends on one).
  const std::size_t head = std::min(pages, ((begin + k2m - 1) / k2m * k2m - begin) / page);
  const std::uintptr_t last_boundary = end / k2m * k2m;
  const std::size_t tail_start = last_boundary <= begin ? 0 : (last_boundary - begin) / page;
  std::size_t contiguous = 0, run = 0, run_start = 0, worst = 0, pieces = 0;
  const auto close_run = [&](std::size_t stop) {
    const bool fills_head = run_start == 0 && stop >= head && head > 0;
    const bool fills_tail = stop == pages && run_start <= tail_start && tail_start < pages;
    if (run > 0 && (run >= run_2m || fills_head || fills_tail || (run_start == 0 && stop == pages))) contiguous += run;
  };
  constexpr std::size_t kChunk = 1u << 16;
  std::vector<std::uint64_t> entries;
  std::uint64_t prev = 0;
  bool any_frame = false;
  for (std::size_t first = 0; first < pages; first += kChunk) {
    const std::size_t n = std::min(kChunk, pages - first);
    if (!read_entries(fd.get(), begin / page + first, n, entries)) return l;
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = first + k;
      const std::uint64_t e = entries[k];
      const bool present = (e & kPresent) != 0;
      any_frame = any_frame || (present && (e & kPfnMask) != 0);
      const bool joins = i > 0 && present && (prev & kPresent) && (e & kPfnMask) == (prev & kPfnMask) + 1;
      if (!joins) {
        close_run(i);
        run = 0;
        run_start = i;
      }
      if (present) ++run;
      if (i % per_mib == 0) pieces = 0;
      if (!joins || i % per_mib == 0) ++pieces;
      worst = std::max(worst, pieces);
      prev = e;
    }
  }
  close_run(pages);
  // Without CAP_SYS_ADMIN every frame number reads as 0: physical addresses are hidden.
  if (!any_frame) return l;
  l.source = "pagemap";
  l.contiguous_2m = static_cast<double>(contiguous) / static_cast<double>(pages);
  l.worst_segments_per_mib = worst;
  return l;
}

}  // namespace swapio
