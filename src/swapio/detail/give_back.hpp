// What a failed write in place gives back: a file it created is removed and a file it grew gets
// its old size back, so a failure (ENOSPC at preallocation, an I/O error, a signal's cancel)
// leaves the filesystem's space as it found it. Ops of this process writing one file at once
// share its growth, so only an op that had the file to itself for its whole life gives back.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <exception>
#include <string>

#include "swapio/file.hpp"

namespace swapio::detail {

// A write's claim on its file (by device and inode), from prepare to completion.
class WriteClaim {
 public:
  WriteClaim() = default;
  // Claims file's inode; a file that cannot be fstat'ed is not claimed (nothing is given back).
  explicit WriteClaim(const File& file) noexcept;
  WriteClaim(WriteClaim&& o) noexcept { *this = std::move(o); }
  WriteClaim& operator=(WriteClaim&& o) noexcept;
  WriteClaim(const WriteClaim&) = delete;
  WriteClaim& operator=(const WriteClaim&) = delete;
  ~WriteClaim() { release(); }

  bool held() const noexcept { return held_; }
  // No other claim on the file overlapped this one so far.
  bool alone() const noexcept;
  void release() noexcept;

 private:
  bool held_ = false;
  bool first_ = false;  // no other claim was held when this one began
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  std::uint64_t joined_ = 0;  // the file's count of claims when this one began
};

// After a failed write in place: gives back what it took (see above) and returns the error with
// what was given back said in it, or the error as it was. Never throws.
std::exception_ptr give_back(const File& file, const WriteClaim& claim, std::exception_ptr error) noexcept;

// The error with "; note" added to its message (swapio::Error, ConfigError, ValidationError),
// or as it was (another kind, or out of memory). path, when given, is the file a swapio::Error
// names instead of its own (the caller's, for an error met on a temporary).
std::exception_ptr add_to_error(std::exception_ptr error, const std::string& note, const std::string& path = {}) noexcept;

}  // namespace swapio::detail
