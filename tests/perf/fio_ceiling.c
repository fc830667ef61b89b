/* The ceiling for the floor tests: fio with I/O buffers laid out as swapio lays out its own.
 *
 *   env LD_PRELOAD=libswapio_fio_ceiling.so fio --iomem=mmap ...
 *
 * fio's --iomem=mmap buffers come from one private anonymous mmap. This library gives every such
 * mapping of at least 2 MiB what HostBuffer gives swapio's memory: a 2 MiB-aligned start,
 * MADV_HUGEPAGE, every page faulted in now, and small pages collapsed into huge ones
 * (MADV_COLLAPSE) where the faults did not get huge pages. The buffers are then physically
 * contiguous in 2 MiB pieces, so a request is one or two DMA segments instead of one per 4 KiB
 * page: fio measures the device, not where its buffers happened to land. Other mappings pass
 * through untouched. SWAPIO_FIO_CEILING_DEBUG=1 prints each mapping it lays out on stderr.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define HUGE_SIZE ((size_t)2 << 20)

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);

static mmap_fn next_mmap(void) {
  static mmap_fn fn;
  if (fn == NULL) fn = (mmap_fn)dlsym(RTLD_NEXT, "mmap");
  return fn;
}

static int wanted(void *addr, size_t len, int prot, int flags) {
  return addr == NULL && len >= HUGE_SIZE && len <= SIZE_MAX - HUGE_SIZE && (flags & MAP_TYPE) == MAP_PRIVATE &&
         (flags & MAP_ANONYMOUS) != 0 && (flags & MAP_FIXED) == 0 && (prot & PROT_WRITE) != 0;
}

static void *lay_out(size_t len, int prot, int flags) {
  mmap_fn real = next_mmap();
  /* One huge page more than asked, then both ends trimmed: the start is 2 MiB-aligned. A trim
   * that fails leaves that slack mapped, which costs address space and nothing else. */
  char *raw = real(NULL, len + HUGE_SIZE, prot, flags, -1, 0);
  if (raw == MAP_FAILED) return MAP_FAILED;
  const uintptr_t start = ((uintptr_t)raw + HUGE_SIZE - 1) & ~(uintptr_t)(HUGE_SIZE - 1);
  int trimmed = 1;
  if (start > (uintptr_t)raw && munmap(raw, start - (uintptr_t)raw) != 0) trimmed = 0;
  const uintptr_t end = start + len, raw_end = (uintptr_t)raw + len + HUGE_SIZE;
  if (raw_end > end && munmap((void *)end, raw_end - end) != 0) trimmed = 0;
  char *p = (char *)start;
  (void)madvise(p, len, MADV_HUGEPAGE);
  if (madvise(p, len, MADV_POPULATE_WRITE) != 0) {
    const long page = sysconf(_SC_PAGESIZE);
    for (size_t off = 0; off < len; off += (size_t)page) ((volatile char *)p)[off] = 0;
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (madvise(p, len, MADV_COLLAPSE) == 0 || errno != EAGAIN) break;
  }
  const char *debug = getenv("SWAPIO_FIO_CEILING_DEBUG");
  if (debug != NULL && *debug != '\0' && *debug != '0') {
    fprintf(stderr, "swapio_fio_ceiling: %zu bytes at %p: 2 MiB-aligned, huge pages advised and collapsed, faulted in%s\n",
            len, (void *)p, trimmed ? "" : " (a trim of the slack failed: it stays mapped)");
  }
  return p;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset) {
  mmap_fn real = next_mmap();
  if (real == NULL) {  /* no mmap after this library: nothing to call */
    errno = ENOSYS;
    return MAP_FAILED;
  }
  if (wanted(addr, len, prot, flags)) return lay_out(len, prot, flags);
  return real(addr, len, prot, flags, fd, offset);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t offset) {
  return mmap(addr, len, prot, flags, fd, offset);
}
