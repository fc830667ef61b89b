#include "swapio/detail/huge_mapping.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <limits>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

namespace swapio::detail {

HugeMapping map_huge(std::size_t size, int prot, int flags, MapFunction map) noexcept {
  HugeMapping m;
  if (size == 0 || size > std::numeric_limits<std::size_t>::max() - kHugePage) {
    m.error = EINVAL;
    return m;
  }
  // Over-map by one huge page, then trim both ends: the start lands on a 2 MiB boundary.
  const std::size_t over = size + kHugePage;
  void* raw = map(nullptr, over, prot, flags, -1, 0);
  if (raw == MAP_FAILED) {
    m.error = errno;
    return m;
  }
  const auto base = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t start = (base + kHugePage - 1) / kHugePage * kHugePage;
  if (start > base && ::munmap(raw, start - base) != 0) m.trimmed = false;
  // The mapping's end is whole pages (a length like fio's 33562622 bytes is not).
  const long page_size = ::sysconf(_SC_PAGESIZE);
  const std::size_t page = page_size > 0 ? static_cast<std::size_t>(page_size) : 4096;
  const std::uintptr_t end = start + (size + page - 1) / page * page, raw_end = base + over;
  if (raw_end > end && ::munmap(reinterpret_cast<void*>(end), raw_end - end) != 0) m.trimmed = false;
  auto* p = reinterpret_cast<char*>(start);
  m.data = p;

  // Advice the kernel may refuse (THP "never", no THP): the collapse below still makes huge pages.
  m.huge_advised = ::madvise(p, size, MADV_HUGEPAGE) == 0;
  // Every page faulted in now, so that the I/O path never takes a fault and pages are placed.
  if (::madvise(p, size, MADV_POPULATE_WRITE) != 0) {
    for (std::size_t off = 0; off < size; off += page) {
      reinterpret_cast<volatile char*>(p)[off] = 0;
    }
  }
  // Where a fault got small pages (THP "never" or "defer", memory too fragmented for the fault
  // to compact), collapse them into huge pages now: MADV_COLLAPSE (Linux 6.1) compacts
  // synchronously and ignores the THP sysfs mode. Ranges already huge cost nothing; a refusal
  // (older kernel, no memory) leaves the memory as it is.
  for (int attempt = 0; attempt < 3 && size >= kHugePage; ++attempt) {
    if (::madvise(p, size, MADV_COLLAPSE) == 0 || errno != EAGAIN) break;  // EAGAIN: a page was busy
  }
  return m;
}

}  // namespace swapio::detail
