// The basic API: one-shot calls that set up everything (file, rings, threads) and tear it
// down again per call, as DeepSpeed's aio_read/aio_write do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "swapio/config.hpp"
#include "swapio/device.hpp"
#include "swapio/result.hpp"

namespace swapio {

// Reads buffer.size() bytes at offset of path into buffer. The range must lie inside the file.
// With validate, the bytes are checked against an independent read. Throws ConfigError,
// swapio::Error or ValidationError.
OpResult read_file(std::span<std::byte> buffer, const std::string& path, const Config& config = {},
                   std::uint64_t offset = 0, bool validate = false);

// Writes buffer at offset of path, creating the file if needed (never truncating it): the range
// is preallocated and the size becomes at least offset + buffer.size(), exactly that for a new
// file. Any size and offset; memory of any alignment.
OpResult write_file(std::span<const std::byte> buffer, const std::string& path, const Config& config = {},
                    std::uint64_t offset = 0, bool validate = false);

// The same with the tensor in device memory: the bytes move through a bounded ring of pinned
// host chunks (Config::device_chunks x device_chunk_size per thread), copies overlapping the
// I/O. Validation compares through a copy back to the host.
OpResult read_file(DeviceSpan buffer, const std::string& path, const Config& config = {}, std::uint64_t offset = 0,
                   bool validate = false);
OpResult write_file(DeviceSpan buffer, const std::string& path, const Config& config = {}, std::uint64_t offset = 0,
                    bool validate = false);

}  // namespace swapio
