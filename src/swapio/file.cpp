#include "swapio/file.hpp"

#include <fcntl.h>
#include <limits.h>
#include <linux/stat.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <utility>

#include "swapio/error.hpp"

namespace swapio {

FileDescriptor::FileDescriptor(FileDescriptor&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

void FileDescriptor::close() noexcept {
  if (fd_ < 0) return;
  if (::close(std::exchange(fd_, -1)) != 0 && errno != EINTR) {
    std::fprintf(stderr, "swapio: close failed: %s\n", std::strerror(errno));
  }
}

namespace {

struct Alignment {
  bool known = false;       // the filesystem or device told us
  bool supported = true;    // false: the filesystem says it cannot do direct I/O
  std::uint32_t mem = 0;
  std::uint32_t offset = 0;
};

std::uint32_t read_sysfs_u32(const std::string& path) {
  std::ifstream in(path);
  std::uint32_t v = 0;
  if (in >> v) return v;
  return 0;
}

Alignment discover_alignment(int fd) {
  Alignment a;
#ifdef STATX_DIOALIGN
  struct statx sx {};
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN)) {
    a.known = true;
    a.supported = sx.stx_dio_offset_align != 0;
    a.mem = sx.stx_dio_mem_align;
    a.offset = sx.stx_dio_offset_align;
    return a;
  }
#endif
  // Older kernels: the logical block size of the device that holds the file.
  struct stat st {};
  if (::fstat(fd, &st) == 0 && major(st.st_dev) != 0) {
    const std::string dev = "/sys/dev/block/" + std::to_string(major(st.st_dev)) + ":" +
                            std::to_string(minor(st.st_dev));
    std::uint32_t lbs = read_sysfs_u32(dev + "/queue/logical_block_size");
    if (lbs == 0) lbs = read_sysfs_u32(dev + "/../queue/logical_block_size");  // a partition
    if (lbs != 0) {
      a.known = true;
      a.mem = lbs;
      a.offset = lbs;
    }
  }
  return a;
}

// What direct I/O under `mode` makes of what the filesystem reported: the offset alignment to
// use, or 0 for buffered I/O (*why says why).
std::uint32_t direct_offset_for(const Alignment& a, DirectMode mode, const char** why) {
  if (a.known && !a.supported) {
    *why = "the filesystem reports no direct-I/O support";
    return 0;
  }
  if (!a.known && mode == DirectMode::automatic) {
    // tmpfs and other memory filesystems accept O_DIRECT without meaning it.
    *why = "the filesystem reports no direct-I/O alignment (not block-backed)";
    return 0;
  }
  return a.known ? a.offset : static_cast<std::uint32_t>(::sysconf(_SC_PAGESIZE));
}

int open_fd(const std::string& path, Access access, bool direct) {
  int flags = O_CLOEXEC | O_NONBLOCK;  // O_NONBLOCK: a FIFO must not hang the open
  flags |= access == Access::read ? O_RDONLY : (O_WRONLY | O_CREAT);
  if (direct) flags |= O_DIRECT;
  return ::open(path.c_str(), flags, 0644);
}

void require_regular(int fd, const std::string& path, Access access) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_io_error(errno, "fstat", path);
  const char* op = access == Access::read ? "open for reading" : "open for writing";
  if (S_ISDIR(st.st_mode)) throw_io_error(EISDIR, op, path, 0, 0, "a directory, not a regular file");
  if (!S_ISREG(st.st_mode)) throw_io_error(EINVAL, op, path, 0, 0, "not a regular file");
  // Regular files ignore O_NONBLOCK, but clear it so nothing downstream sees it.
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) throw_io_error(errno, "fcntl", path);
}

// What descriptor n refers to, as errors name it ("/data/x (descriptor 7)"), after checking that
// n allows the access: the file is reopened through /proc, which would otherwise write through a
// read-only descriptor, and ignore O_APPEND.
std::string check_descriptor(int n, Access access) {
  const char* op = access == Access::read ? "open for reading" : "open for writing";
  const std::string number = "descriptor " + std::to_string(n);
  const int fl = ::fcntl(n, F_GETFL);
  if (fl < 0) throw_io_error(errno, op, number, 0, 0, errno == EBADF ? number + " is not open" : "");
  std::string shown = number;
  char target[PATH_MAX];
  const ssize_t len = ::readlink(("/proc/self/fd/" + std::to_string(n)).c_str(), target, sizeof target);
  if (len > 0 && static_cast<std::size_t>(len) < sizeof target) shown = std::string(target, static_cast<std::size_t>(len)) + " (" + number + ")";
  const int mode = fl & O_ACCMODE;
  if (access == Access::write && mode == O_RDONLY) throw_io_error(EBADF, op, shown, 0, 0, "the descriptor is open read-only");
  if (access == Access::read && mode == O_WRONLY) throw_io_error(EBADF, op, shown, 0, 0, "the descriptor is open write-only");
  if (access == Access::write && (fl & O_APPEND) != 0) {
    throw_io_error(EBADF, op, shown, 0, 0,
                   "the descriptor is open with O_APPEND, which puts every write at the end of the file whatever its "
                   "offset; open it without O_APPEND");
  }
  return shown;
}

// Creates path when nothing is there (O_EXCL: the file is this call's, nobody else's). False when
// something exists (or a dangling link, or an error the open that follows reports).
bool create_if_missing(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 || errno != ENOENT) return false;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NONBLOCK, 0644);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

}  // namespace

void check_path(const std::string& path, const std::string& what) {
  const auto at = path.find('\0');
  if (at == std::string::npos) return;
  std::string shown;
  for (const char c : path) shown += c == '\0' ? std::string("\\0") : std::string(1, c);
  throw ConfigError(what + " '" + shown + "' holds a NUL byte (at byte " + std::to_string(at) +
                    "): a file name cannot contain one");
}

int descriptor_of(const std::string& path) noexcept {
  for (const std::string_view prefix : {std::string_view("/proc/self/fd/"), std::string_view("/dev/fd/")}) {
    if (!path.starts_with(prefix)) continue;
    const std::string_view digits = std::string_view(path).substr(prefix.size());
    if (digits.empty() || digits.size() > 9) return -1;
    int n = 0;
    for (const char c : digits) {
      if (c < '0' || c > '9') return -1;
      n = n * 10 + (c - '0');
    }
    return n;
  }
  return -1;
}

File File::open(const std::string& path, Access access, DirectMode mode, const std::string& shown_as) {
  check_path(path);
  const int descriptor = descriptor_of(path);
  const std::string shown = descriptor >= 0 ? check_descriptor(descriptor, access) : shown_as.empty() ? path : shown_as;
  const bool created = access == Access::write && descriptor < 0 && create_if_missing(path);
  try {
    File f = open_checked(path, access, mode, shown);
    f.descriptor_ = descriptor;
    f.created_ = created;
    if (access == Access::write && !created) f.size_before_ = f.size();
    return f;
  } catch (...) {
    // Nothing of this call's stays behind: the file it made goes with the failed open.
    if (created) ::unlink(path.c_str());
    throw;
  }
}

File File::open_checked(const std::string& path, Access access, DirectMode mode, const std::string& shown) {
  File f;
  f.name_ = shown;
  f.path_ = path;
  f.access_ = access;
  const char* op = access == Access::read ? "open for reading" : "open for writing";
  const long page = ::sysconf(_SC_PAGESIZE);

  bool want_direct = mode != DirectMode::off;
  int fd = open_fd(path, access, want_direct);
  bool refused = false;
  if (fd < 0 && want_direct && errno == EINVAL) {
    refused = true;
    want_direct = false;
    fd = open_fd(path, access, false);
  }
  if (fd < 0) throw_io_error(errno, op, shown);
  f.fd_ = FileDescriptor(fd);
  require_regular(fd, shown, access);  // a directory or a FIFO is named as such, not as "refused"
  if (refused) {
    if (mode == DirectMode::on) {
      throw_io_error(EINVAL, op, shown, 0, 0, "O_DIRECT refused by the filesystem; direct=on requires it");
    }
    f.direct_note_ = "O_DIRECT refused by the filesystem: buffered I/O";
  }

  if (want_direct) {
    const Alignment a = discover_alignment(fd);
    const char* why = "";
    const std::uint32_t offset = direct_offset_for(a, mode, &why);
    if (offset == 0) {
      if (mode == DirectMode::on) throw_io_error(EINVAL, op, shown, 0, 0, std::string(why) + "; direct=on requires it");
      f.direct_note_ = std::string(why) + ": buffered I/O";
      want_direct = false;
    } else {
      f.mem_align_ = a.known ? std::max<std::uint32_t>(a.mem, 1) : static_cast<std::uint32_t>(page);
      f.offset_align_ = offset;
    }
    if (!want_direct) {
      FileDescriptor buffered(open_fd(path, access, false));
      if (!buffered.valid()) throw_io_error(errno, op, shown);
      require_regular(buffered.get(), shown, access);
      f.fd_ = std::move(buffered);
    }
  }
  f.direct_ = want_direct;
  if (f.direct_) {
    FileDescriptor edge(open_fd(path, access, false));
    if (!edge.valid()) throw_io_error(errno, op, shown);
    require_regular(edge.get(), shown, access);
    f.edge_fd_ = std::move(edge);
  }
  return f;
}

std::uint32_t File::edge_align() const noexcept {
  const auto page = static_cast<std::uint32_t>(::sysconf(_SC_PAGESIZE));
  return std::max(offset_align_, page);
}

std::uint64_t File::size() const {
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) throw_io_error(errno, "fstat", name_);
  return static_cast<std::uint64_t>(st.st_size);
}

bool File::preallocate(std::uint64_t offset, std::uint64_t length) {
  if (length == 0) return false;
  if (::fallocate(fd_.get(), 0, static_cast<off_t>(offset), static_cast<off_t>(length)) == 0) return true;
  const int err = errno;
  if (err != EOPNOTSUPP && err != ENOSYS && err != EINVAL) {
    throw_io_error(err, "fallocate", name_, offset, length);
  }
  if (size() < offset + length && ::ftruncate(fd_.get(), static_cast<off_t>(offset + length)) != 0) {
    throw_io_error(errno, "ftruncate", name_, 0, offset + length);
  }
  return false;
}

std::uint32_t direct_offset_alignment(const std::string& path, DirectMode mode) {
  check_path(path);
  if (mode == DirectMode::off) return 0;
  const FileDescriptor fd(::open(path.c_str(), O_PATH | O_CLOEXEC));
  if (!fd.valid()) throw_io_error(errno, "look at", path);
  const char* why = "";
  return direct_offset_for(discover_alignment(fd.get()), mode, &why);
}

std::string folder_of(const std::string& path) {
  const std::filesystem::path p(path);
  return p.has_parent_path() ? p.parent_path().string() : ".";
}

void pread_exact(int fd, void* buf, std::uint64_t length, std::uint64_t offset, const std::string& path) {
  auto* p = static_cast<char*>(buf);
  std::uint64_t done = 0;
  while (done < length) {
    const ssize_t n = ::pread(fd, p + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw_io_error(errno, "pread", path, offset + done, length - done);
    }
    if (n == 0) throw_io_error(ENODATA, "pread", path, offset + done, length - done, "unexpected end of file");
    done += static_cast<std::uint64_t>(n);
  }
}

void pwrite_exact(int fd, const void* buf, std::uint64_t length, std::uint64_t offset, const std::string& path) {
  const auto* p = static_cast<const char*>(buf);
  std::uint64_t done = 0;
  while (done < length) {
    const ssize_t n = ::pwrite(fd, p + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw_io_error(errno, "pwrite", path, offset + done, length - done);
    }
    if (n == 0) throw_io_error(EIO, "pwrite", path, offset + done, length - done, "wrote nothing");
    done += static_cast<std::uint64_t>(n);
  }
}

}  // namespace swapio
