// What an operation moves and which way: the two values every entry point takes. A tensor is a
// span of host memory or of device memory; the engine picks the path (direct, staged through
// host memory, or through the device's ring of pinned chunks) from it.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "swapio/device.hpp"

namespace swapio {

// read: file -> memory; write: memory -> file.
enum class Direction { read, write };

constexpr std::string_view to_string(Direction d) noexcept { return d == Direction::write ? "write" : "read"; }

// A tensor's bytes: host memory, or device memory of device(). A span of const bytes can only be
// written to a file: reading into it is refused.
class TensorSpan {
 public:
  TensorSpan() noexcept = default;
  TensorSpan(std::span<std::byte> host) noexcept : data_(host.data()), size_(host.size()) {}  // NOLINT: implicit
  TensorSpan(std::span<const std::byte> host) noexcept  // NOLINT: implicit
      : data_(const_cast<std::byte*>(host.data())), size_(host.size()), read_only_(true) {}
  TensorSpan(DeviceSpan device) noexcept  // NOLINT: implicit
      : data_(device.data), size_(device.size), device_(device.device), stream_(device.stream), on_device_(true) {}

  // Host memory, or a device address (never dereferenced on the host) when on_device().
  std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  // The device of device memory; null for host memory (and for a device span that names none,
  // which every entry point refuses).
  Device* device() const noexcept { return device_; }
  bool on_device() const noexcept { return on_device_; }
  // Device memory: the caller's stream the transfer is ordered after (null: the legacy default).
  void* stream() const noexcept { return stream_; }
  DeviceSpan device_span() const noexcept { return {device_, data_, size_, stream_}; }
  bool read_only() const noexcept { return read_only_; }

 private:
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  Device* device_ = nullptr;
  void* stream_ = nullptr;
  bool on_device_ = false;
  bool read_only_ = false;
};

}  // namespace swapio
