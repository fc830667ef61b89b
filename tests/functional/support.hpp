// Helpers shared by the functional tests: a temporary folder that is always removed, a
// deterministic byte pattern keyed by file position, and plain (non-swapio) file access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "swapio/device.hpp"

namespace swapio::test {

// A fresh folder under $SWAPIO_TEST_DIR (set by ctest to a folder in the build tree, on the
// same disk as the checkout), else $TMPDIR, else /tmp. Removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const noexcept { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The byte a file holds at position pos under a given seed.
std::byte pattern_byte(std::uint64_t pos, std::uint64_t seed);
// Fills buf as the bytes at file positions [pos, pos+buf.size()).
void fill_pattern(std::span<std::byte> buf, std::uint64_t pos, std::uint64_t seed);
// Index of the first byte of buf that differs from the pattern, or -1.
std::int64_t first_pattern_mismatch(std::span<const std::byte> buf, std::uint64_t pos, std::uint64_t seed);

// Device memory set up and read back (blocking copies through the device's bounce buffer): the
// pattern of file positions [pos, pos+span.size), and the span's bytes.
void upload_pattern(Device& device, DeviceSpan span, std::uint64_t pos, std::uint64_t seed);
std::vector<std::byte> download(Device& device, DeviceSpan span);

// Plain buffered file access, independent of the engine under test. Fail the test on error.
void write_plain(const std::string& path, std::span<const std::byte> data);
std::vector<std::byte> read_plain(const std::string& path);
std::uint64_t file_size(const std::string& path);

// A filesystem mounted at <parent>/<name> for the object's lifetime, e.g. a tmpfs of 1 MiB
// ("tmpfs", "size=1m") or a read-only one (flags MS_RDONLY). Needs root: ok() says whether it
// worked and why_not() why it did not.
class ScratchMount {
 public:
  ScratchMount(const std::string& parent, const std::string& name, const std::string& fstype,
               const std::string& options, unsigned long flags = 0);
  ~ScratchMount();
  ScratchMount(const ScratchMount&) = delete;
  ScratchMount& operator=(const ScratchMount&) = delete;
  bool ok() const noexcept { return mounted_; }
  const std::string& why_not() const noexcept { return why_not_; }
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
  bool mounted_ = false;
  std::string why_not_;
};

// A small filesystem of `fstype` ("ext4", "ext2") on a loop device, mounted at <parent>/<name>
// for the object's lifetime, for real ENOSPC. Needs root, mkfs.<fstype> and a loop device: ok()
// says whether it worked and why_not() why it did not. The image and the mount go with it.
class LoopMount {
 public:
  LoopMount(const std::string& parent, const std::string& name, const std::string& fstype, unsigned size_mib);
  ~LoopMount();
  LoopMount(const LoopMount&) = delete;
  LoopMount& operator=(const LoopMount&) = delete;
  bool ok() const noexcept { return mounted_; }
  const std::string& why_not() const noexcept { return why_not_; }
  const std::string& path() const noexcept { return path_; }
  // Bytes free to an unprivileged writer (statvfs f_bavail), for "the space came back".
  std::uint64_t free_bytes() const;

 private:
  std::string path_;
  std::string image_;
  bool mounted_ = false;
  std::string why_not_;
};

// Open file descriptors of this process (entries of /proc/self/fd).
std::size_t open_fd_count();

// A ramfs mounted at <parent>/ramfs: a filesystem that refuses O_DIRECT.
class RamfsMount : public ScratchMount {
 public:
  explicit RamfsMount(const std::string& parent) : ScratchMount(parent, "ramfs", "ramfs", "") {}
};

// Whether the folder supports O_DIRECT with a reported alignment (a block filesystem).
bool supports_direct(const std::string& folder);

// Whether a HostBuffer can get huge pages here: THP not "never", or a kernel with MADV_COLLAPSE
// (Linux 6.1), which collapses pages whatever the THP mode.
bool thp_allowed();
bool kernel_collapses();
bool huge_pages_possible();

}  // namespace swapio::test
