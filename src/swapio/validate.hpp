// Validation: the bytes in memory against an independent buffered read of the file, or against
// swapio's data pattern.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "swapio/tensor.hpp"

namespace swapio {

// Reads [offset, offset + expected.size()) of path with plain buffered pread (never the engine
// under test) and compares; device memory is copied back to the host piece by piece. Throws
// ValidationError naming the first differing offset, or swapio::Error when the file cannot be
// read (or is shorter).
// shown_as: the name errors give (default: path).
void validate_tensor(TensorSpan expected, const std::string& path, std::uint64_t offset,
                     const std::string& shown_as = {});

inline void validate_file_range(std::span<const std::byte> expected, const std::string& path, std::uint64_t offset) {
  validate_tensor(expected, path, offset);
}
inline void validate_file_range(DeviceSpan expected, const std::string& path, std::uint64_t offset) {
  validate_tensor(expected, path, offset);
}

// swapio's data pattern, what `swapio bench` writes and what a read's validation checks (as fio's
// verify does): the content at any file offset is a function of (seed, offset) alone, so any
// piece can be filled or checked on its own. Every 4 KiB block of the file begins with the
// 8 bytes "swapio:p" and the seed (little-endian); every other 8-byte word at offset p holds
// mix(seed, p), and a file that ends inside a word holds that word's first bytes.
inline constexpr std::size_t kPatternBlock = 4096;
void fill_pattern(std::span<std::byte> out, std::uint64_t seed, std::uint64_t file_offset);

// The seed when data (the file's bytes from file_offset) holds swapio's pattern: the header of its
// first, middle or last block (the 16 bytes at each 4 KiB boundary inside data) says so (one damaged header does not hide the pattern).
// std::nullopt otherwise. Device memory is copied back for the blocks it looks at.
std::optional<std::uint64_t> find_pattern_seed(TensorSpan data, std::uint64_t file_offset);

// Checks every byte of data (the file's bytes from file_offset) against the pattern of seed. On
// a difference it reads that byte of path with a plain buffered pread and throws ValidationError
// naming the offset, the expected and the read byte, and whether the file itself holds the bad
// byte (the data on storage is wrong) or the expected one (the read was wrong).
void verify_pattern(TensorSpan data, std::uint64_t seed, const std::string& path, std::uint64_t file_offset);

}  // namespace swapio
