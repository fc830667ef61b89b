// The checks of an op's arguments that need no I/O beyond the file already open: one leaf every
// entry point goes through, so each rule is written (and worded) once. Each throws ConfigError.
#pragma once

#include <cstdint>
#include <string>

#include "swapio/config.hpp"
#include "swapio/file.hpp"
#include "swapio/tensor.hpp"

namespace swapio::detail {

// A null buffer with a length, or a range that ends past the largest file offset. The message
// starts with `context`.
void check_buffer_range(const void* buf, std::uint64_t length, std::uint64_t offset, const std::string& context = {});

// The tensor's range as check_buffer_range, a device span that names no device, and a read into
// read-only memory.
void check_tensor(Direction direction, const TensorSpan& tensor, std::uint64_t offset, const std::string& context = {});

// With direct I/O on file, block_size must be a multiple of its direct-I/O alignment.
void check_block_alignment(const Config& config, const File& file);

}  // namespace swapio::detail
