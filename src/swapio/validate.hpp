// Validation: the bytes in memory against an independent buffered read of the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "swapio/tensor.hpp"

namespace swapio {

// Reads [offset, offset + expected.size()) of path with plain buffered pread (never the engine
// under test) and compares; device memory is copied back to the host piece by piece. Throws
// ValidationError naming the first differing offset, or swapio::Error when the file cannot be
// read (or is shorter).
void validate_tensor(TensorSpan expected, const std::string& path, std::uint64_t offset);

inline void validate_file_range(std::span<const std::byte> expected, const std::string& path, std::uint64_t offset) {
  validate_tensor(expected, path, offset);
}
inline void validate_file_range(DeviceSpan expected, const std::string& path, std::uint64_t offset) {
  validate_tensor(expected, path, offset);
}

}  // namespace swapio
