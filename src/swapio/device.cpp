#include "swapio/device.hpp"

#include <cctype>
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

DeviceSpec parse_device_spec(std::string_view spec) {
  if (spec == "emulated") return {true, 0};
  if (spec == "cuda") return {false, 0};
  if (spec.starts_with("cuda:")) {
    const std::string_view digits = spec.substr(5);
    int index = -1;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (!digits.empty() && std::isdigit(static_cast<unsigned char>(digits.front())) && ec == std::errc{} &&
        end == digits.data() + digits.size()) {
      return {false, index};
    }
  }
  throw ConfigError("'" + std::string(spec) + "' is not cuda, cuda:N or emulated");
}

std::shared_ptr<Device> open_device(std::string_view spec) {
  DeviceSpec d;
  try {
    d = parse_device_spec(spec);
  } catch (const ConfigError& e) {
    throw ConfigError("device " + std::string(e.what()));
  }
  return d.emulated ? make_emulated_device() : detail::open_cuda_device(d.index);
}

}  // namespace swapio
