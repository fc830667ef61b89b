// A stand-in libcufile.so.0 for machines without a GPU: cuFile's C entry points with cuFile's
// documented rules, over the host emulation's device memory, so that swapio's GPUDirect Storage
// path (loaded with dlopen, as NVIDIA's library is) runs in the default test suite.
//
// Rules kept: the driver must be open before anything else; a descriptor registers once, must be
// a regular file opened with O_DIRECT and without O_APPEND, O_NONBLOCK, O_NOFOLLOW or O_NOATIME;
// a buffer registers once, must be device memory (an emulated allocation), and deregisters only
// when registered; reads and writes need a registered handle and device memory, may move fewer
// bytes than asked, and return -1 with errno or a cuFile error negated. A call from a child forked
// after the parent opened the driver aborts, as cuFile's state does not survive fork().
//
// swapio hands the library a resolver of emulated device memory through
// swapio_cufile_standin_attach. Tests steer it through the environment, read at each call:
//   SWAPIO_STANDIN_DRIVER_OPEN=fail    cuFileDriverOpen fails (CU_FILE_DRIVER_NOT_INITIALIZED)
//   SWAPIO_STANDIN_HANDLE_ERROR=N      cuFileHandleRegister fails with status N
//   SWAPIO_STANDIN_BUF_ERROR=N         cuFileBufRegister fails with status N
//   SWAPIO_STANDIN_MAX_IO=BYTES        each read or write moves at most BYTES (short transfers)
//   SWAPIO_STANDIN_FAIL_IO=K:WHAT      the K-th read or write (from 1) fails: WHAT is a cuFile
//                                      status (returned negated) or "eio" (-1 with errno EIO)
// and read its counters with swapio_cufile_standin_counters.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "cufile_standin.hpp"
#include "swapio/detail/cufile_api.hpp"

namespace {

namespace cf = swapio::detail::cufile;
using cf::Descr;
using cf::Error;
using swapio::standin::Counters;

struct HandleRec {
  int fd;           // the caller's descriptor (O_DIRECT)
  int buffered_fd;  // the same file without O_DIRECT, for unaligned ranges
};

std::mutex g_mutex;
cf::StandinResolver g_resolve = nullptr;
bool g_open = false;
pid_t g_opener = 0;
std::set<HandleRec*> g_handles;
std::set<int> g_fds;
std::map<const void*, std::size_t> g_buffers;
Counters g_counters{};
long g_io_calls = 0;

constexpr Error ok{cf::kSuccess, 0};
constexpr int kAlign = 4096;

// cuFile does not survive fork(): a child that calls it with its parent's driver aborts.
void check_process() {
  if (g_open && g_opener != ::getpid()) {
    std::fputs("cufile stand-in: called in a child forked after its parent opened the driver\n", stderr);
    std::abort();
  }
}

long env_number(const char* name, long otherwise) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtol(v, nullptr, 10) : otherwise;
}

// -1 (errno set) or a negated status when the K-th I/O call must fail; 0 otherwise.
ssize_t injected_failure() {
  const char* v = std::getenv("SWAPIO_STANDIN_FAIL_IO");
  if (v == nullptr || *v == '\0') return 0;
  const long k = std::strtol(v, nullptr, 10);
  const char* what = std::strchr(v, ':');
  if (k != g_io_calls || what == nullptr) return 0;
  if (std::strcmp(what + 1, "eio") == 0) {
    errno = EIO;
    return -1;
  }
  return -std::strtol(what + 1, nullptr, 10);
}

// Moves n bytes between the file and host memory with O_DIRECT where the range is aligned (as
// DMA would: straight in when the memory is aligned too, else through an aligned bounce), else
// through the buffered descriptor.
ssize_t move(const HandleRec& h, bool read, char* host, std::size_t n, off_t offset) {
  if (offset % kAlign != 0 || n % kAlign != 0) {
    return read ? ::pread(h.buffered_fd, host, n, offset) : ::pwrite(h.buffered_fd, host, n, offset);
  }
  if (reinterpret_cast<std::uintptr_t>(host) % kAlign == 0) {  // straight in, as DMA into the GPU
    return read ? ::pread(h.fd, host, n, offset) : ::pwrite(h.fd, host, n, offset);
  }
  void* bounce = nullptr;
  if (::posix_memalign(&bounce, kAlign, n) != 0) {
    errno = ENOMEM;
    return -1;
  }
  ssize_t r;
  if (read) {
    r = ::pread(h.fd, bounce, n, offset);
    if (r > 0) std::memcpy(host, bounce, static_cast<std::size_t>(r));
  } else {
    std::memcpy(bounce, host, n);
    r = ::pwrite(h.fd, bounce, n, offset);
  }
  const int saved = errno;
  std::free(bounce);
  errno = saved;
  return r;
}

ssize_t io(bool read, void* handle, const void* base, std::size_t size, off_t file_offset, off_t buf_offset) {
  std::unique_lock lock(g_mutex);
  check_process();
  if (!g_open) return -cf::kDriverNotInitialized;
  auto* h = static_cast<HandleRec*>(handle);
  if (g_handles.count(h) == 0) return -cf::kHandleNotRegistered;
  if (file_offset < 0 || buf_offset < 0) return -cf::kInvalidValue;
  ++(read ? g_counters.reads : g_counters.writes);
  ++g_io_calls;
  if (const ssize_t fail = injected_failure()) return fail;
  std::size_t n = size;
  const long cap = env_number("SWAPIO_STANDIN_MAX_IO", 0);
  if (cap > 0 && n > static_cast<std::size_t>(cap)) {
    n = static_cast<std::size_t>(cap);
    ++g_counters.short_transfers;
  }
  const char* device = static_cast<const char*>(base) + buf_offset;
  char* host = g_resolve != nullptr ? static_cast<char*>(g_resolve(device, n)) : nullptr;
  if (host == nullptr) return -cf::kCudaPointerInvalid;
  const HandleRec rec = *h;
  lock.unlock();  // I/O from several threads at once, as cuFile's
  return move(rec, read, host, n, file_offset);
}

}  // namespace

extern "C" {

void swapio_cufile_standin_attach(cf::StandinResolver resolve) {
  std::lock_guard lock(g_mutex);
  g_resolve = resolve;
}

void swapio_cufile_standin_counters(Counters* out) {
  std::lock_guard lock(g_mutex);
  *out = g_counters;
  out->live_handles = static_cast<long>(g_handles.size());
  out->live_buffers = static_cast<long>(g_buffers.size());
}

Error cuFileGetVersion(int* version) {
  if (version == nullptr) return {cf::kInvalidValue, 0};
  *version = 1150;
  return ok;
}

Error cuFileDriverOpen() {
  std::lock_guard lock(g_mutex);
  check_process();
  const char* v = std::getenv("SWAPIO_STANDIN_DRIVER_OPEN");
  if (v != nullptr && std::strcmp(v, "fail") == 0) return {cf::kDriverNotInitialized, 0};
  if (g_open) return {cf::kDriverAlreadyOpen, 0};
  g_open = true;
  g_opener = ::getpid();
  ++g_counters.driver_opens;
  return ok;
}

Error cuFileDriverClose_v2() {
  std::lock_guard lock(g_mutex);
  check_process();
  if (!g_open) return {cf::kDriverNotInitialized, 0};
  g_open = false;
  ++g_counters.driver_closes;
  return ok;
}

Error cuFileHandleRegister(void** fh, Descr* descr) {
  std::lock_guard lock(g_mutex);
  check_process();
  if (!g_open) return {cf::kDriverNotInitialized, 0};
  if (fh == nullptr || descr == nullptr) return {cf::kInvalidValue, 0};
  if (descr->type != cf::kHandleTypeOpaqueFd) return {cf::kIoNotSupported, 0};
  const int fd = descr->handle.fd;
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return {cf::kInvalidValue, 0};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return {cf::kInvalidFileType, 0};
  if ((flags & (O_APPEND | O_NONBLOCK | O_NOFOLLOW | O_NOATIME)) != 0) return {cf::kInvalidFileOpenFlag, 0};
  if ((flags & O_DIRECT) == 0) return {cf::kDioNotSet, 0};
  if (const long forced = env_number("SWAPIO_STANDIN_HANDLE_ERROR", 0)) return {static_cast<int>(forced), 0};
  if (g_fds.count(fd) != 0) return {cf::kHandleAlreadyRegistered, 0};
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  const int buffered = ::open(self.c_str(), (flags & O_ACCMODE) | O_CLOEXEC);
  if (buffered < 0) return {cf::kGetNewFdFailed, 0};
  auto* h = new HandleRec{fd, buffered};
  g_handles.insert(h);
  g_fds.insert(fd);
  ++g_counters.handle_registers;
  *fh = h;
  return ok;
}

void cuFileHandleDeregister(void* fh) {
  std::lock_guard lock(g_mutex);
  check_process();
  auto* h = static_cast<HandleRec*>(fh);
  if (g_handles.erase(h) == 0) return;
  g_fds.erase(h->fd);
  ::close(h->buffered_fd);
  delete h;
  ++g_counters.handle_deregisters;
}

Error cuFileBufRegister(const void* base, std::size_t length, int flags) {
  std::lock_guard lock(g_mutex);
  check_process();
  if (!g_open) return {cf::kDriverNotInitialized, 0};
  if (base == nullptr || length == 0 || flags != 0) return {cf::kInvalidValue, 0};
  if (g_resolve == nullptr || g_resolve(base, length) == nullptr) return {cf::kCudaPointerInvalid, 0};
  if (g_buffers.count(base) != 0) return {cf::kMemoryAlreadyRegistered, 0};
  if (const long forced = env_number("SWAPIO_STANDIN_BUF_ERROR", 0)) return {static_cast<int>(forced), 0};
  g_buffers[base] = length;
  ++g_counters.buf_registers;
  return ok;
}

Error cuFileBufDeregister(const void* base) {
  std::lock_guard lock(g_mutex);
  check_process();
  if (!g_open) return {cf::kDriverNotInitialized, 0};
  if (g_buffers.erase(base) == 0) return {cf::kMemoryNotRegistered, 0};
  ++g_counters.buf_deregisters;
  return ok;
}

ssize_t cuFileRead(void* fh, void* base, std::size_t size, off_t file_offset, off_t buf_offset) {
  return io(true, fh, base, size, file_offset, buf_offset);
}

ssize_t cuFileWrite(void* fh, const void* base, std::size_t size, off_t file_offset, off_t buf_offset) {
  return io(false, fh, base, size, file_offset, buf_offset);
}

}  // extern "C"
