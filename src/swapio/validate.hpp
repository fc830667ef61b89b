// Validation: the bytes in memory against an independent buffered read of the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "swapio/device.hpp"

namespace swapio {

// Reads [offset, offset+expected.size()) of path with plain buffered pread (never the engine
// under test) and compares. Throws ValidationError naming the first differing offset, or
// swapio::Error when the file cannot be read (or is shorter).
void validate_file_range(std::span<const std::byte> expected, const std::string& path, std::uint64_t offset);
// The same for device memory, copied back to the host piece by piece.
void validate_file_range(DeviceSpan expected, const std::string& path, std::uint64_t offset);

}  // namespace swapio
