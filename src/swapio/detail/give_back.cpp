#include "swapio/detail/give_back.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>

#include "swapio/detail/fork_guard.hpp"
#include "swapio/error.hpp"

namespace swapio::detail {
namespace {

struct Claims {
  struct Entry {
    std::size_t active = 0;   // claims held now
    std::uint64_t joined = 0;  // claims begun since the first of those
  };
  std::mutex mutex;
  std::map<std::pair<dev_t, ino_t>, Entry> files;
};

Claims& claims();
std::mutex* claims_mutex() { return &claims().mutex; }

// Never destroyed: a Handle's op may complete while the process exits.
Claims& claims() {
  static auto* c = new Claims;
  return *c;
}

// Set up at load time, before any thread can be inside it (see fork_guard.hpp).
[[maybe_unused]] const bool claims_guarded = (claims(), guard_across_fork<&claims_mutex>(), true);

// The one thing a failed write gives back, said for its error ("" when nothing was to give).
std::string give_back_space(const File& file) {
  struct stat mine {};
  if (::fstat(file.fd(), &mine) != 0) return "";
  if (file.created()) {
    struct stat named {};
    // Only the file this write made: the name may have been given to another since.
    if (::stat(file.path().c_str(), &named) != 0 || named.st_dev != mine.st_dev || named.st_ino != mine.st_ino) return "";
    if (::unlink(file.path().c_str()) != 0) return std::string("the file it created could not be removed: ") + std::strerror(errno);
    return "the file it created is removed";
  }
  if (static_cast<std::uint64_t>(mine.st_size) <= file.size_before()) return "";
  if (::ftruncate(file.fd(), static_cast<off_t>(file.size_before())) != 0) {
    return "the file could not be cut back to its old size of " + format_bytes(file.size_before()) + ": " + std::strerror(errno);
  }
  return "the file has its old size of " + format_bytes(file.size_before()) + " again";
}

}  // namespace

WriteClaim::WriteClaim(const File& file) noexcept {
  struct stat st {};
  if (::fstat(file.fd(), &st) != 0) return;
  Claims& c = claims();
  std::lock_guard lock(c.mutex);
  try {
    Claims::Entry& e = c.files[{st.st_dev, st.st_ino}];
    first_ = e.active == 0;
    ++e.active;
    joined_ = ++e.joined;
  } catch (...) {
    return;  // out of memory: not claimed, nothing will be given back
  }
  held_ = true;
  dev_ = st.st_dev;
  ino_ = st.st_ino;
}

WriteClaim& WriteClaim::operator=(WriteClaim&& o) noexcept {
  if (this != &o) {
    release();
    held_ = std::exchange(o.held_, false);
    first_ = o.first_;
    dev_ = o.dev_;
    ino_ = o.ino_;
    joined_ = o.joined_;
  }
  return *this;
}

bool WriteClaim::alone() const noexcept {
  if (!held_ || !first_) return false;
  Claims& c = claims();
  std::lock_guard lock(c.mutex);
  const auto it = c.files.find({dev_, ino_});
  return it != c.files.end() && it->second.joined == joined_;
}

void WriteClaim::release() noexcept {
  if (!std::exchange(held_, false)) return;
  Claims& c = claims();
  std::lock_guard lock(c.mutex);
  const auto it = c.files.find({dev_, ino_});
  if (it != c.files.end() && --it->second.active == 0) c.files.erase(it);
}

std::exception_ptr give_back(const File& file, const WriteClaim& claim, std::exception_ptr error) noexcept {
  if (!claim.held()) return error;
  try {
    const std::string said = claim.alone()
                                 ? give_back_space(file)
                                 : "other writes of this process to the file were in flight, so its size is left as it is";
    return said.empty() ? error : add_to_error(std::move(error), said);
  } catch (...) {
    return error;  // out of memory for the message
  }
}

std::exception_ptr add_to_error(std::exception_ptr error, const std::string& note, const std::string& path) noexcept {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    try {
      return std::make_exception_ptr(Error(e.errnum(), e.op(), path.empty() ? e.path() : path, e.offset(), e.length(),
                                           e.detail().empty() ? note : e.detail() + "; " + note));
    } catch (...) {
    }
  } catch (const ValidationError& e) {
    try {
      return std::make_exception_ptr(ValidationError(std::string(e.what()) + "; " + note, e.file_offset(), e.buffer_offset()));
    } catch (...) {
    }
  } catch (const ConfigError& e) {
    try {
      return std::make_exception_ptr(ConfigError(std::string(e.what()) + "; " + note));
    } catch (...) {
    }
  } catch (...) {
  }
  return error;
}

}  // namespace swapio::detail
