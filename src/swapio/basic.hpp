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
#include "swapio/tensor.hpp"

namespace swapio {

// Moves tensor.size() bytes between the tensor and [offset, offset + size) of path.
// read: the range must lie inside the file. write: the file is created if needed (never
// truncated); the range is preallocated and the size becomes at least offset + size, exactly that
// for a new file. Any size and offset; host memory of any alignment. Device memory moves through
// a bounded ring of pinned host chunks (Config::device_chunks x device_chunk_size per thread),
// copies overlapping the I/O. With validate, the bytes are checked against an independent read
// (through a copy back for device memory). Throws ConfigError, swapio::Error or ValidationError.
OpResult transfer(Direction direction, TensorSpan tensor, const std::string& path, const Config& config = {},
                  std::uint64_t offset = 0, bool validate = false);

// Conveniences for the two directions.
inline OpResult read_file(std::span<std::byte> buffer, const std::string& path, const Config& config = {},
                          std::uint64_t offset = 0, bool validate = false) {
  return transfer(Direction::read, buffer, path, config, offset, validate);
}
inline OpResult write_file(std::span<const std::byte> buffer, const std::string& path, const Config& config = {},
                           std::uint64_t offset = 0, bool validate = false) {
  return transfer(Direction::write, buffer, path, config, offset, validate);
}
inline OpResult read_file(DeviceSpan buffer, const std::string& path, const Config& config = {},
                          std::uint64_t offset = 0, bool validate = false) {
  return transfer(Direction::read, buffer, path, config, offset, validate);
}
inline OpResult write_file(DeviceSpan buffer, const std::string& path, const Config& config = {},
                           std::uint64_t offset = 0, bool validate = false) {
  return transfer(Direction::write, buffer, path, config, offset, validate);
}

}  // namespace swapio
