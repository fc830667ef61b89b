// One operation from call to result, shared by the basic API and Handle: open and check the
// file, preallocate a write, split into slices, and after the slices ran, validate and report.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "swapio/config.hpp"
#include "swapio/device.hpp"
#include "swapio/detail/plan.hpp"
#include "swapio/detail/transfer.hpp"
#include "swapio/file.hpp"
#include "swapio/result.hpp"

namespace swapio::detail {

// A temporary file that is removed unless committed (renamed over its target).
class TempFile {
 public:
  TempFile() = default;
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  TempFile(TempFile&& o) noexcept
      : mode(o.mode), device(o.device), inode(o.inode), path_(std::exchange(o.path_, {})) {}
  TempFile& operator=(TempFile&& o) noexcept {
    if (this != &o) {
      remove();
      path_ = std::exchange(o.path_, {});
      mode = o.mode;
      device = o.device;
      inode = o.inode;
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
  std::uint64_t device = 0, inode = 0;  // what was created, to check what is opened

 private:
  void remove() noexcept;

  std::string path_;
};

struct PreparedOp {
  explicit PreparedOp(File f) : file(std::move(f)) {}

  File file;
  std::string target;  // where the result goes: the path, or a symbolic link's target when replacing
  TempFile temp;       // atomic_replace: the file being written, renamed over target at the end
  bool sync = false;   // fdatasync before reporting success
  bool created = false;  // a write in place that created the file (sync: the folder too)
  bool write = false;
  std::byte* buf = nullptr;  // host memory, or device memory of `device`
  Device* device = nullptr;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  bool validate = false;
  bool preallocated = false;
  std::vector<Slice> slices;
  std::chrono::steady_clock::time_point started;
};

// Throws ConfigError (its message starting with `context`) for a null buffer with a length, or
// for a range that ends past the largest file offset.
void check_buffer_range(const void* buf, std::uint64_t length, std::uint64_t offset, const std::string& context = {});

// Checks the arguments, opens the file, checks a read's range against its size, preallocates a
// write's range, and splits it into up to config.intra_op_parallelism slices.
// Throws ConfigError or swapio::Error.
PreparedOp prepare_op(const Config& config, bool write, const std::byte* buf, std::uint64_t length,
                      const std::string& path, std::uint64_t offset, bool validate, Device* device = nullptr);

// Memory of slice i.
inline std::byte* slice_memory(const PreparedOp& op, std::size_t i) {
  return op.buf + (op.slices[i].offset - op.offset);
}

// The device of a span the caller passed; throws ConfigError when a non-empty span has none.
Device* device_of(const DeviceSpan& span);

// Merges the slices' figures, validates when asked (throws ValidationError), and reports.
OpResult finish_op(PreparedOp& op, std::vector<SliceStats>& slices, const std::string& engine,
                   const std::string& engine_note);

}  // namespace swapio::detail
