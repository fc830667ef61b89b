#include "swapio/detail/temp_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

#include "swapio/error.hpp"

namespace swapio::detail {

namespace {

std::string temp_prefix(const std::string& name, int pid) { return "." + name + ".swapio-" + std::to_string(pid) + "-"; }

}  // namespace

TempFile create_temp_beside(const std::string& target) {
  const auto slash = target.rfind('/');
  // The name cut so that it stays a valid name.
  const std::string name = (slash == std::string::npos ? target : target.substr(slash + 1)).substr(0, 200);
  const std::string prefix = (slash == std::string::npos ? std::string() : target.substr(0, slash + 1)) +
                             temp_prefix(name, ::getpid());
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
      temp.st_dev = st.st_dev;
      temp.st_ino = st.st_ino;
      if (exists) temp.mode = static_cast<int>(existing.st_mode & 07777);
      return temp;
    }
    if (errno != EEXIST) throw_io_error(errno, "create a temporary file beside", target);
  }
  throw_io_error(EEXIST, "create a temporary file beside", target, 0, 0, "100 names taken");
}

void check_is_temp(const File& file, const TempFile& temp) {
  struct stat st {};
  if (::fstat(file.fd(), &st) != 0) throw_io_error(errno, "fstat", temp.path());
  if (st.st_dev != temp.st_dev || st.st_ino != temp.st_ino) {
    throw_io_error(EEXIST, "open for writing", file.name(), 0, 0, "its temporary file " + temp.path() + " was replaced");
  }
}

std::string replacement_target(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return path;
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (resolved != nullptr) {
    std::string out(resolved);
    std::free(resolved);
    return out;
  }
  if (errno != ENOENT) throw_io_error(errno, "resolve the symbolic link", path);
  // A dangling link: the file it names is created, as a write in place would create it (its
  // folder must exist, as there).
  std::string named(static_cast<std::size_t>(st.st_size > 0 ? st.st_size : 4096) + 1, '\0');
  const ssize_t n = ::readlink(path.c_str(), named.data(), named.size());
  if (n < 0) throw_io_error(errno, "read the symbolic link", path);
  named.resize(static_cast<std::size_t>(n));
  if (named.empty()) throw_io_error(ENOENT, "resolve the symbolic link", path);
  return named.front() == '/' ? named : folder_of(path) + "/" + named;
}

void sync_folder(const std::string& folder, const std::string& why) {
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) throw_io_error(errno, "open folder", folder, 0, 0, why);
  const int rc = ::fsync(dir);
  const int err = errno;
  ::close(dir);
  if (rc != 0) throw_io_error(err, "fsync folder", folder, 0, 0, why);
}

void check_still_linked(const File& file, std::uint64_t offset, std::uint64_t length) {
  struct stat mine {}, named {};
  if (::fstat(file.fd(), &mine) != 0) throw_io_error(errno, "fstat", file.name());
  if (file.descriptor() >= 0) {
    // The caller holds the file by its descriptor, not by a name: that descriptor must still be it.
    const std::string number = "descriptor " + std::to_string(file.descriptor());
    if (::stat(file.path().c_str(), &named) != 0) {
      throw_io_error(EBADF, "write", file.name(), offset, length, number + " was closed before the op finished");
    }
    if (named.st_ino != mine.st_ino || named.st_dev != mine.st_dev) {
      throw_io_error(EBADF, "write", file.name(), offset, length,
                     number + " was closed before the op finished, and now refers to another file");
    }
    return;
  }
  if (::stat(file.name().c_str(), &named) != 0) {
    throw_io_error(ENOENT, "write", file.name(), offset, length,
                   "the file was deleted while it was being written: the data is not at this path");
  }
  if (named.st_ino != mine.st_ino || named.st_dev != mine.st_dev) {
    throw_io_error(ENOENT, "write", file.name(), offset, length,
                   "the path was replaced by another file while it was being written: the data is not at this path");
  }
}

}  // namespace swapio::detail

namespace swapio {

std::size_t remove_replacement_temporaries(const std::string& target, int pid) noexcept {
  std::size_t removed = 0;
  if (target.find('\0') != std::string::npos) return 0;  // names no file: it has no temporaries
  try {
    const std::filesystem::path t(detail::replacement_target(target));  // where they are made
    const std::string prefix = detail::temp_prefix(t.filename().string().substr(0, 200), pid);
    std::error_code ec;
    std::vector<std::filesystem::path> doomed;
    for (std::filesystem::directory_iterator it(folder_of(t.string()), ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().filename().string().starts_with(prefix)) doomed.push_back(it->path());
    }
    for (const auto& p : doomed) removed += std::filesystem::remove(p, ec) ? 1 : 0;
  } catch (...) {
    // Out of memory while listing: what is left stays; nothing else to do here.
  }
  return removed;
}

}  // namespace swapio

namespace swapio::detail {

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

}  // namespace swapio::detail
