// Durable writes: the temporary a replacement writes to (atomic_replace), and the syncs that make
// a write or a rename survive a crash.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "swapio/file.hpp"

namespace swapio::detail {

// A temporary file that is removed unless committed (renamed over its target).
class TempFile {
 public:
  TempFile() = default;
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  TempFile(TempFile&& o) noexcept : mode(o.mode), st_dev(o.st_dev), st_ino(o.st_ino), path_(std::exchange(o.path_, {})) {}
  TempFile& operator=(TempFile&& o) noexcept {
    if (this != &o) {
      remove();
      path_ = std::exchange(o.path_, {});
      mode = o.mode;
      st_dev = o.st_dev;
      st_ino = o.st_ino;
    }
    return *this;
  }
  ~TempFile() { remove(); }
  const std::string& path() const noexcept { return path_; }
  bool empty() const noexcept { return path_.empty(); }
  // Gives fd (the temporary, open) `mode`, renames it over target and syncs target's folder;
  // throws swapio::Error.
  void commit(int fd, const std::string& target);

  int mode = -1;  // permission bits for the replacement (the old file's); -1: as created
  std::uint64_t st_dev = 0, st_ino = 0;  // what was created, to check what is opened

 private:
  void remove() noexcept;

  std::string path_;
};

// Creates an empty file beside `target` that nobody else has: "<folder>/.<name>.swapio-<pid>-<random>",
// created 0644 under the umask; it takes the target's permission bits when it replaces it.
TempFile create_temp_beside(const std::string& target);
// The file a replacement writes to must be the temporary it created, not something put in its
// place between the creation and the open.
void check_is_temp(const File& file, const TempFile& temp);
// The path a replacement renames onto: a symbolic link's target, so that the file the link
// names is replaced (as a write in place would write it), not the link.
std::string replacement_target(const std::string& path);
// fsync of a folder, so that a name created or renamed in it survives a crash; `why` goes into
// the error.
void sync_folder(const std::string& folder, const std::string& why);
// A write whose file was deleted or replaced while it ran left its bytes where nobody will find
// them: that is a failure, not a success.
void check_still_linked(const File& file, std::uint64_t offset, std::uint64_t length);

}  // namespace swapio::detail
