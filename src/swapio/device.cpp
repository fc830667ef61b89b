#include "swapio/device.hpp"

#include <charconv>
#include <utility>

#include "swapio/detail/cuda_device.hpp"
#include "swapio/error.hpp"

namespace swapio {

void Device::copy_to_device(DeviceSpan dst, const std::byte* host) {
  if (dst.size == 0) return;
  auto stream = create_stream();
  stream->copy_to_device(dst.data, host, dst.size);
  stream->wait(stream->record());
}

void Device::copy_to_host(std::byte* host, DeviceSpan src) {
  if (src.size == 0) return;
  auto stream = create_stream();
  stream->copy_to_host(host, src.data, src.size);
  stream->wait(stream->record());
}

DeviceBuffer::DeviceBuffer(std::shared_ptr<Device> device, std::size_t bytes) : device_(std::move(device)), size_(bytes) {
  if (!device_) throw ConfigError("DeviceBuffer: no device");
  data_ = device_->allocate(bytes);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : device_(std::move(other.device_)), data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) device_->deallocate(data_);
    device_ = std::move(other.device_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() {
  if (data_ != nullptr) device_->deallocate(data_);
}

bool cuda_built() noexcept { return detail::cuda_built(); }

int cuda_device_count(std::string* why_none) { return detail::cuda_device_count(why_none); }

std::shared_ptr<Device> open_device(std::string_view spec) {
  if (spec == "emulated") return make_emulated_device();
  if (spec == "cuda" || spec.starts_with("cuda:")) {
    int index = 0;
    if (spec.size() > 5) {
      const std::string_view digits = spec.substr(5);
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
      if (ec != std::errc{} || end != digits.data() + digits.size() || index < 0) {
        throw ConfigError("device '" + std::string(spec) + "': expected cuda:N with N a device number");
      }
    }
    return detail::open_cuda_device(index);
  }
  throw ConfigError("device '" + std::string(spec) + "': expected cuda, cuda:N or emulated");
}

}  // namespace swapio
