// Opening devices: by their spec ("cuda", "cuda:N", "emulated"), and the CUDA devices' objects.
#include <cctype>
#include <charconv>
#include <mutex>
#include <vector>

#include "swapio/detail/cuda_devices.hpp"
#include "swapio/detail/driver.hpp"
#include "swapio/error.hpp"

namespace swapio {
namespace {

class CudaDeviceObject final : public Device {
 public:
  CudaDeviceObject(std::shared_ptr<detail::Driver> driver, int ordinal) : Device(std::move(driver), ordinal) {}
};

}  // namespace

bool cuda_built() noexcept { return detail::cuda_built(); }

int cuda_device_count(std::string* why_none) {
  if (!detail::cuda_built()) {
    if (why_none != nullptr) *why_none = detail::kNoCudaBuild;
    return 0;
  }
  return detail::cuda_driver()->device_count(why_none);
}

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

namespace detail {

std::shared_ptr<Device> cuda_device(int index) {
  static std::mutex mutex;
  static auto* const devices = new std::vector<std::shared_ptr<Device>>();
  std::string why;
  const int count = swapio::cuda_device_count(&why);
  if (count == 0) throw ConfigError("CUDA: no device is visible (" + why + ")");
  if (index >= count) {
    throw ConfigError("CUDA: device " + std::to_string(index) + " does not exist (" + std::to_string(count) +
                      " visible: 0.." + std::to_string(count - 1) + ")");
  }
  std::lock_guard lock(mutex);
  if (devices->size() < static_cast<std::size_t>(count)) devices->resize(count);
  auto& d = (*devices)[index];
  if (!d) d = std::make_shared<CudaDeviceObject>(cuda_driver(), index);
  return d;
}

}  // namespace detail

std::shared_ptr<Device> open_device(std::string_view spec) {
  DeviceSpec d;
  try {
    d = parse_device_spec(spec);
  } catch (const ConfigError& e) {
    throw ConfigError("device " + std::string(e.what()));
  }
  if (d.emulated) return make_emulated_device();
  if (!detail::cuda_built()) {
    throw ConfigError(std::string("CUDA: ") + detail::kNoCudaBuild);
  }
  return detail::cuda_device(d.index);
}

}  // namespace swapio
