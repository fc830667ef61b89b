// EmulatedDevice's controls, the making of emulated devices, and the registry of live emulated
// drivers that answers which emulated device holds an address.
#include <algorithm>
#include <mutex>

#include "swapio/detail/emulated_driver.hpp"
#include "swapio/error.hpp"

namespace swapio {
namespace {

// Every live emulated driver, for pointer queries that do not name one.
std::mutex g_drivers_mutex;
std::vector<std::weak_ptr<detail::EmulatedDriver>> g_drivers;

class EmulatedDeviceObject final : public EmulatedDevice {
 public:
  EmulatedDeviceObject(std::shared_ptr<detail::Driver> driver, int ordinal) : EmulatedDevice(std::move(driver), ordinal) {}
};

detail::EmulatedDriver& emu(const Device& d) { return static_cast<detail::EmulatedDriver&>(d.driver()); }

}  // namespace

void EmulatedDevice::hold() { emu(*this).dma(ordinal()).hold(); }
void EmulatedDevice::release() { emu(*this).dma(ordinal()).release(); }
std::uint64_t EmulatedDevice::copies() const { return emu(*this).dma(ordinal()).stats().copies; }
EmulatedDevice::CopyStats EmulatedDevice::copy_stats() const {
  const detail::CopyQueue::Stats s = emu(*this).dma(ordinal()).stats();
  return {s.copies, s.bytes, s.seconds};
}
std::size_t EmulatedDevice::allocated_bytes() const { return emu(*this).allocated(ordinal()); }
std::size_t EmulatedDevice::registered_bytes() const { return emu(*this).registered_bytes(); }
EmulatedDevice::DriverCounters EmulatedDevice::counters() const { return emu(*this).counters(); }
void* EmulatedDevice::create_caller_stream(bool blocking) { return emu(*this).create_caller_stream(ordinal(), blocking); }
void EmulatedDevice::launch_write(void* stream, DeviceSpan dst, std::vector<std::byte> bytes, std::uint32_t delay_us) {
  emu(*this).launch_write(ordinal(), stream, dst, std::move(bytes), delay_us);
}
void EmulatedDevice::synchronize_caller_stream(void* stream) { emu(*this).synchronize_caller(ordinal(), stream); }
void EmulatedDevice::lose(const std::string& why) { emu(*this).lose(ordinal(), why); }
int EmulatedDevice::current() { return detail::EmulatedDriver::current_ordinal(); }
void EmulatedDevice::make_current(int ordinal) { detail::EmulatedDriver::make_current(ordinal); }

std::vector<std::shared_ptr<EmulatedDevice>> make_emulated_devices(int count, const EmulatedDeviceOptions& options) {
  if (count < 1) throw ConfigError("make_emulated_devices: count must be at least 1, not " + std::to_string(count));
  auto driver = std::make_shared<detail::EmulatedDriver>(count, options);
  std::vector<std::shared_ptr<EmulatedDevice>> out;
  for (int i = 0; i < count; ++i) {
    out.push_back(std::make_shared<EmulatedDeviceObject>(driver, i));
    driver->device_objects.push_back(out.back());
  }
  std::lock_guard lock(g_drivers_mutex);
  std::erase_if(g_drivers, [](const auto& w) { return w.expired(); });
  g_drivers.push_back(driver);
  return out;
}

std::shared_ptr<EmulatedDevice> make_emulated_device(const EmulatedDeviceOptions& options) {
  return make_emulated_devices(1, options).front();
}

namespace detail {

namespace {

// The emulated drivers alive now, held so that none goes while a query runs.
std::vector<std::shared_ptr<EmulatedDriver>> live_drivers() {
  std::vector<std::shared_ptr<EmulatedDriver>> drivers;
  std::lock_guard lock(g_drivers_mutex);
  for (auto& w : g_drivers) {
    if (auto d = w.lock()) drivers.push_back(std::move(d));
  }
  return drivers;
}

}  // namespace

std::shared_ptr<Device> emulated_device_holding(const void* address, PointerInfo* info) {
  for (auto& d : live_drivers()) {
    const PointerInfo i = d->pointer_info(address);
    if (i.kind != PointerInfo::Kind::device) continue;
    if (auto dev = d->device_objects[i.device].lock()) {
      if (info != nullptr) *info = i;
      return dev;
    }
  }
  return nullptr;
}

void* emulated_host_bytes(const void* address, std::size_t bytes) {
  for (auto& d : live_drivers()) {
    if (std::byte* host = d->host_bytes(address, bytes)) return host;
  }
  return nullptr;
}

}  // namespace detail
}  // namespace swapio
