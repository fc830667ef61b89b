// The ceiling for the floor tests: fio with I/O buffers laid out as swapio lays out its own.
//
//   env LD_PRELOAD=libswapio_fio_ceiling.so fio --iomem=mmap ...
//
// fio's --iomem=mmap buffers come from one private anonymous mmap. This library gives every such
// mapping of at least 2 MiB the layout of HostBuffer's memory, through the same code
// (detail::map_huge): a 2 MiB-aligned start, huge pages, every page faulted in now. The buffers
// are then physically contiguous in 2 MiB pieces, so a request is one or two DMA segments instead
// of one per 4 KiB page: fio measures the device, not where its buffers happened to land. Other
// mappings pass through untouched. SWAPIO_FIO_CEILING_DEBUG=1 prints each mapping it lays out.
#include <dlfcn.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "swapio/detail/huge_mapping.hpp"

namespace {

swapio::detail::MapFunction next_mmap() {
  static swapio::detail::MapFunction fn = reinterpret_cast<swapio::detail::MapFunction>(::dlsym(RTLD_NEXT, "mmap"));
  return fn;
}

bool wanted(void* addr, std::size_t len, int prot, int flags) {
  return addr == nullptr && len >= swapio::detail::kHugePage && (flags & MAP_TYPE) == MAP_PRIVATE &&
         (flags & MAP_ANONYMOUS) != 0 && (flags & MAP_FIXED) == 0 && (prot & PROT_WRITE) != 0;
}

}  // namespace

extern "C" void* mmap(void* addr, std::size_t len, int prot, int flags, int fd, off_t offset) {
  const swapio::detail::MapFunction real = next_mmap();
  if (real == nullptr) {  // no mmap after this library: nothing to call
    errno = ENOSYS;
    return MAP_FAILED;
  }
  if (!wanted(addr, len, prot, flags)) return real(addr, len, prot, flags, fd, offset);
  const swapio::detail::HugeMapping m = swapio::detail::map_huge(len, prot, flags, real);
  if (m.data == nullptr) {
    errno = m.error;
    return MAP_FAILED;
  }
  const char* debug = std::getenv("SWAPIO_FIO_CEILING_DEBUG");
  if (debug != nullptr && *debug != '\0' && *debug != '0') {
    std::fprintf(stderr, "swapio_fio_ceiling: %zu bytes at %p: 2 MiB-aligned, huge pages, faulted in%s\n", len, m.data,
                 m.trimmed ? "" : " (a trim of the slack failed: it stays mapped)");
  }
  return m.data;
}

extern "C" void* mmap64(void* addr, std::size_t len, int prot, int flags, int fd, off_t offset) {
  return mmap(addr, len, prot, flags, fd, offset);
}
