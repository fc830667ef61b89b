// Helpers shared by the functional tests: a temporary folder that is always removed, a
// deterministic byte pattern keyed by file position, and plain (non-swapio) file access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

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

// Plain buffered file access, independent of the engine under test. Fail the test on error.
void write_plain(const std::string& path, std::span<const std::byte> data);
std::vector<std::byte> read_plain(const std::string& path);
std::uint64_t file_size(const std::string& path);

// Whether the folder supports O_DIRECT with a reported alignment (a block filesystem).
bool supports_direct(const std::string& folder);

}  // namespace swapio::test
