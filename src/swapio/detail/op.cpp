#include "swapio/detail/op.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include "swapio/error.hpp"
#include "swapio/validate.hpp"

namespace swapio::detail {
namespace {

// Creates an empty file beside `target` that nobody else has: "<folder>/.<name>.swapio-<random>"
// (the name cut so that it stays a valid name), created 0644 under the umask. When the target
// exists, its permission bits are given to the temporary just before it replaces it.
TempFile create_temp_beside(const std::string& target) {
  const auto slash = target.rfind('/');
  const std::string name = (slash == std::string::npos ? target : target.substr(slash + 1)).substr(0, 200);
  const std::string prefix = (slash == std::string::npos ? std::string() : target.substr(0, slash + 1)) + "." + name + ".swapio-";
  struct stat existing {};
  const bool exists = ::stat(target.c_str(), &existing) == 0;
  std::random_device seed;
  std::mt19937_64 rng(seed());
  for (int attempt = 0; attempt < 100; ++attempt) {
    char suffix[17];
    std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(rng()));
    const std::string path = prefix + suffix;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0) {
      TempFile temp(path);  // removed if anything below fails
      struct stat st {};
      const int rc = ::fstat(fd, &st);
      const int err = errno;
      ::close(fd);
      if (rc != 0) throw_io_error(err, "fstat", path);
      temp.device = st.st_dev;
      temp.inode = st.st_ino;
      if (exists) temp.mode = static_cast<int>(existing.st_mode & 07777);
      return temp;
    }
    if (errno != EEXIST) throw_io_error(errno, "create a temporary file beside", target);
  }
  throw_io_error(EEXIST, "create a temporary file beside", target, 0, 0, "100 names taken");
}

// The file a replacement writes to must be the temporary it created, not something put in its
// place between the creation and the open.
void check_is_temp(const File& file, const TempFile& temp) {
  struct stat st {};
  if (::fstat(file.fd(), &st) != 0) throw_io_error(errno, "fstat", temp.path());
  if (st.st_dev != temp.device || st.st_ino != temp.inode) {
    throw_io_error(EEXIST, "open for writing", file.path(), 0, 0, "its temporary file " + temp.path() + " was replaced");
  }
}

// The path a replacement renames onto: a symbolic link's target, so that the file the link
// names is replaced (as a write in place would write it), not the link.
std::string replacement_target(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return path;
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (resolved == nullptr) throw_io_error(errno, "resolve the symbolic link", path);
  std::string out(resolved);
  std::free(resolved);
  return out;
}

void sync_folder(const std::string& folder, const std::string& why) {
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) throw_io_error(errno, "open folder", folder, 0, 0, why);
  const int rc = ::fsync(dir);
  const int err = errno;
  ::close(dir);
  if (rc != 0) throw_io_error(err, "fsync folder", folder, 0, 0, why);
}

void sync_file(const PreparedOp& op) {
  if (::fdatasync(op.file.fd()) != 0) throw_io_error(errno, "fdatasync", op.file.path());
}

// A write whose file was deleted or replaced while it ran left its bytes where nobody will find
// them: that is a failure, not a success.
void check_still_linked(const PreparedOp& op) {
  struct stat mine {}, named {};
  if (::fstat(op.file.fd(), &mine) != 0) throw_io_error(errno, "fstat", op.file.path());
  if (::stat(op.file.path().c_str(), &named) != 0) {
    throw_io_error(ENOENT, "write", op.file.path(), op.offset, op.length,
                   "the file was deleted while it was being written: the data is not at this path");
  }
  if (named.st_ino != mine.st_ino || named.st_dev != mine.st_dev) {
    throw_io_error(ENOENT, "write", op.file.path(), op.offset, op.length,
                   "the path was replaced by another file while it was being written: the data is not at this path");
  }
}

}  // namespace

void TempFile::remove() noexcept {
  if (!path_.empty() && ::unlink(path_.c_str()) != 0 && errno != ENOENT) {
    std::fprintf(stderr, "swapio: cannot remove temporary file %s: %s\n", path_.c_str(), std::strerror(errno));
  }
  path_.clear();
}

void TempFile::commit(int fd, const std::string& target) {
  if (mode >= 0 && ::fchmod(fd, static_cast<mode_t>(mode)) != 0) throw_io_error(errno, "fchmod", path_);
  if (::rename(path_.c_str(), target.c_str()) != 0) throw_io_error(errno, "rename " + path_ + " to", target);
  path_.clear();
  sync_folder(folder_of(target), "the file was replaced, but the rename may not survive a crash");
}

void check_buffer_range(const void* buf, std::uint64_t length, std::uint64_t offset, const std::string& context) {
  if (buf == nullptr && length != 0) {
    throw ConfigError(context + "buffer is null but its length is " + std::to_string(length));
  }
  if (offset > static_cast<std::uint64_t>(INT64_MAX) || length > static_cast<std::uint64_t>(INT64_MAX) - offset) {
    throw ConfigError(context + "offset " + std::to_string(offset) + " + length " + std::to_string(length) +
                      " is beyond the largest file offset");
  }
}

PreparedOp prepare_op(const Config& config, bool write, const std::byte* buf, std::uint64_t length,
                      const std::string& path, std::uint64_t offset, bool validate, Device* device) {
  config.validate();
  check_buffer_range(buf, length, offset);
  if (path.empty()) throw ConfigError("path is empty");
  TempFile temp;
  std::string target = path;
  if (write && config.atomic_replace) {
    if (offset != 0) {
      throw ConfigError("atomic_replace writes a whole file: offset must be 0, not " + std::to_string(offset));
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
      throw_io_error(S_ISDIR(st.st_mode) ? EISDIR : EINVAL, "open for writing", path, 0, 0,
                     S_ISDIR(st.st_mode) ? "a directory, not a regular file" : "not a regular file");
    }
    target = replacement_target(path);
    temp = create_temp_beside(target);
  }
  // Only a synced write needs to know whether it creates the file (to sync the folder too).
  const bool created = write && config.sync && temp.empty() && ::access(path.c_str(), F_OK) != 0;
  // Errors name the caller's path, also while a temporary is written in its place.
  PreparedOp op(temp.empty() ? File::open(path, write ? Access::write : Access::read, config.direct)
                             : File::open(temp.path(), Access::write, config.direct, path));
  if (!temp.empty()) check_is_temp(op.file, temp);
  op.target = target;
  op.temp = std::move(temp);
  op.created = created;
  op.sync = write && (config.sync || config.atomic_replace);
  op.started = std::chrono::steady_clock::now();
  op.write = write;
  op.buf = const_cast<std::byte*>(buf);  // writes only read from it
  op.device = device;
  op.offset = offset;
  op.length = length;
  op.validate = validate;
  check_block_alignment(config, op.file);
  if (!write) {
    const std::uint64_t size = op.file.size();
    if (offset + length > size) {
      throw_io_error(ENODATA, "read", path, offset, length,
                     "past end of file: the file is " + std::to_string(size) + " bytes");
    }
  } else {
    op.preallocated = op.file.preallocate(offset, length);
  }
  const std::uint64_t unit = op.file.direct() ? op.file.edge_align() : 4096;
  op.slices = split_slices(offset, length, config.intra_op_parallelism, unit);
  return op;
}

Device* device_of(const DeviceSpan& span) {
  if (span.device == nullptr && span.size != 0) {
    throw ConfigError("device span of " + std::to_string(span.size) + " bytes names no device");
  }
  return span.device;
}

OpResult finish_op(PreparedOp& op, std::vector<SliceStats>& slices, const std::string& engine,
                   const std::string& engine_note) {
  OpResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - op.started).count();
  r.write = op.write;
  r.path = op.file.path();
  r.offset = op.offset;
  r.engine = engine;
  r.engine_note = engine_note;
  if (op.device != nullptr) r.device = op.device->name();
  r.direct = op.file.direct();
  r.direct_note = op.file.direct_note();
  r.preallocated = op.preallocated;
  r.threads = static_cast<unsigned>(op.slices.size());
  std::size_t lat = 0;
  for (const SliceStats& s : slices) lat += s.latencies_ns.size();
  r.latencies_ns.reserve(lat);
  std::uint64_t submit_ns = 0, reap_ns = 0;
  for (SliceStats& s : slices) {
    r.bytes += s.bytes;
    r.requests += s.requests;
    r.resubmits += s.resubmits;
    r.staged = r.staged || s.staged;
    submit_ns += s.submit_ns;
    reap_ns += s.reap_ns;
    r.latencies_ns.insert(r.latencies_ns.end(), s.latencies_ns.begin(), s.latencies_ns.end());
  }
  r.submit_seconds = static_cast<double>(submit_ns) / 1e9;
  r.reap_seconds = static_cast<double>(reap_ns) / 1e9;
  if (r.bytes != op.length) {
    throw_io_error(EIO, op.write ? "write" : "read", r.path, op.offset, op.length,
                   "moved " + std::to_string(r.bytes) + " bytes");
  }
  if (op.write && op.temp.empty()) check_still_linked(op);
  if (op.sync) {
    sync_file(op);
    if (op.created) sync_folder(folder_of(op.file.path()), "the new file's name may not survive a crash");
    r.synced = true;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - op.started).count();
  }
  // Validation reads what was written (the temporary, before it replaces anything).
  const std::string& written = op.file.opened_path();
  if (op.validate && op.device != nullptr) {
    validate_file_range(DeviceSpan{op.device, op.buf, static_cast<std::size_t>(op.length)}, written, op.offset);
    r.validated = true;
  } else if (op.validate) {
    validate_file_range({op.buf, static_cast<std::size_t>(op.length)}, written, op.offset);
    r.validated = true;
  }
  if (!op.temp.empty()) {
    op.temp.commit(op.file.fd(), op.target);
    r.replaced = true;
  }
  return r;
}

}  // namespace swapio::detail
