// Where device memory is: the driver's pointer queries, a span checked against its allocation,
// and caller-owned device memory wrapped with the device that holds it.
#include <charconv>

#include "swapio/detail/cuda_devices.hpp"
#include "swapio/detail/driver.hpp"
#include "swapio/error.hpp"

namespace swapio {
namespace {

std::string hex(const void* p) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, reinterpret_cast<std::uintptr_t>(p), 16);
  return "0x" + std::string(buf, end);
}

}  // namespace

PointerInfo Device::pointer_info(const void* address) { return driver_->pointer_info(address); }

void Device::check_span(const DeviceSpan& span, const std::string& context) {
  if (span.size == 0) return;
  usable();
  const PointerInfo info = driver_->pointer_info(span.data);
  const std::string what = context + "device span " + hex(span.data) + " (" + std::to_string(span.size) + " bytes) on " +
                           name();
  if (info.kind == PointerInfo::Kind::host || info.kind == PointerInfo::Kind::registered_host) {
    throw ConfigError(what + " is host memory, not device memory: pass it as a host span");
  }
  if (info.device != ordinal_) {
    throw ConfigError(what + " is memory of " + driver_->device_name(info.device) +
                      ": name that device (wrap_device_pointer finds it)");
  }
  const std::size_t room = info.size - (reinterpret_cast<std::uintptr_t>(span.data) - info.base);
  if (span.size > room) {
    throw ConfigError(what + " runs past the end of its allocation (" + hex(reinterpret_cast<void*>(info.base)) + ", " +
                      std::to_string(info.size) + " bytes) by " + std::to_string(span.size - room) + " bytes");
  }
}

WrappedDeviceMemory wrap_device_pointer(const void* address, std::size_t bytes, void* stream) {
  if (address == nullptr) throw ConfigError("wrap_device_pointer: the address is null");
  PointerInfo info;
  std::shared_ptr<Device> device = detail::emulated_device_holding(address, &info);
  if (!device && detail::cuda_built() && cuda_device_count() > 0) {
    info = detail::cuda_driver()->pointer_info(address);
    if (info.kind == PointerInfo::Kind::device || info.kind == PointerInfo::Kind::managed) {
      device = detail::cuda_device(info.device);
    }
  }
  if (!device) {
    throw ConfigError("wrap_device_pointer: " + hex(address) + " is not device memory of any visible device" +
                      (info.kind == PointerInfo::Kind::registered_host ? " (it is registered host memory)" : ""));
  }
  WrappedDeviceMemory w{device, DeviceSpan{device.get(), static_cast<std::byte*>(const_cast<void*>(address)), bytes, stream}};
  device->check_span(w.span, "wrap_device_pointer: ");
  return w;
}

}  // namespace swapio
