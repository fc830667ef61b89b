#include "swapio/detail/checks.hpp"

#include <cstdint>

#include "swapio/error.hpp"

namespace swapio::detail {

void check_buffer_range(const void* buf, std::uint64_t length, std::uint64_t offset, const std::string& context) {
  if (buf == nullptr && length != 0) {
    throw ConfigError(context + "buffer is null but its length is " + std::to_string(length));
  }
  if (offset > static_cast<std::uint64_t>(INT64_MAX) || length > static_cast<std::uint64_t>(INT64_MAX) - offset) {
    throw ConfigError(context + "offset " + std::to_string(offset) + " + length " + std::to_string(length) +
                      " is beyond the largest file offset");
  }
}

void check_tensor(Direction direction, const TensorSpan& tensor, std::uint64_t offset, const std::string& context) {
  if (tensor.on_device() && tensor.device() == nullptr && tensor.size() != 0) {
    throw ConfigError(context + "device span of " + std::to_string(tensor.size()) +
                      " bytes names no device (a span of device memory that has no device cannot be copied)");
  }
  if (direction == Direction::read && tensor.read_only() && tensor.size() != 0) {
    throw ConfigError(context + "cannot read into read-only memory (" + std::to_string(tensor.size()) + " bytes)");
  }
  check_buffer_range(tensor.data(), tensor.size(), offset, context);
  if (tensor.on_device() && tensor.device() != nullptr) tensor.device()->check_span(tensor.device_span(), context);
}

void check_block_alignment(const Config& config, const File& file) {
  if (file.direct() && config.block_size % file.offset_align() != 0) {
    throw ConfigError("block_size " + std::to_string(config.block_size) +
                      " is not a multiple of the direct-I/O alignment " + std::to_string(file.offset_align()) +
                      " of " + file.name() + " (use a multiple, or direct=off)");
  }
}

}  // namespace swapio::detail
