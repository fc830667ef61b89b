// swapio._swapio.testing: the host emulation of GPUs and injected faults, for tests of the GPU
// path without a GPU (the swapio.testing module wraps it).
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "binding.hpp"
#include "swapio/fault.hpp"

using namespace pybind11::literals;

namespace swapio::python {
namespace {

// A copy of config with one fault rule on `op`'s requests (the docstring below says which).
Config with_faults(const Config& config, int error, std::uint64_t first, std::uint64_t count, const std::string& op,
                   std::uint32_t delay_us) {
  FaultRule rule;
  rule.kind = delay_us > 0 ? FaultKind::delay : FaultKind::error;
  rule.error = error;
  rule.first = first;
  rule.count = count;
  rule.delay = std::chrono::microseconds(delay_us);
  if (op == "read") {
    rule.op = FaultOp::read;
  } else if (op == "write") {
    rule.op = FaultOp::write;
  } else if (op != "any") {
    raise_config("op must be 'read', 'write' or 'any', not '" + op + "'");
  }
  Config out = config;
  out.faults = std::make_shared<FaultInjector>(std::vector<FaultRule>{rule});
  return out;
}

// The emulated device `d` is; ConfigError for another device.
EmulatedDevice& emulated(const PyDevice& d) {
  auto* e = dynamic_cast<EmulatedDevice*>(d.device.get());
  if (e == nullptr) raise_config(d.device->name() + " is not an emulated device");
  return *e;
}

}  // namespace

void bind_testing(py::module_& m) {
  auto t = m.def_submodule("testing", "The host emulation of GPUs, and injected faults, for tests.");
  t.def(
      "with_faults", &with_faults,
      "config"_a, "error"_a = EIO, "first"_a = 1, "count"_a = 1, "op"_a = "any", "delay_us"_a = 0,
      "A copy of config whose requests (counted from 1 over `op`: 'read', 'write' or 'any') numbered first to "
      "first + count - 1 (count 0: every one from first on) fail with errno `error`, or, with delay_us, complete "
      "that late.");
  t.def(
      "emulated_devices",
      [](int count, std::uint32_t max_delay_us) {
        std::vector<PyDevice> out;
        for (auto& d : make_emulated_devices(count, EmulatedDeviceOptions{0, max_delay_us, 1})) out.push_back(PyDevice{d});
        return out;
      },
      "count"_a = 1, "max_delay_us"_a = 0,
      "count emulated devices of one driver (emulated:0..), whose memory stands in for cuda:0.. memory.");
  t.def(
      "create_stream",
      [](const PyDevice& d, bool blocking) {
        return reinterpret_cast<std::uintptr_t>(emulated(d).create_caller_stream(blocking));
      },
      "device"_a, "blocking"_a = true, "A caller's stream on the device, as torch's stream.cuda_stream.");
  t.def(
      "launch_write",
      [](const PyDevice& d, std::uintptr_t stream, std::uintptr_t address, const py::bytes& data,
                 std::uint32_t delay_us) {
        const std::string bytes = data;
        std::vector<std::byte> v(bytes.size());
        std::memcpy(v.data(), bytes.data(), bytes.size());
        emulated(d).launch_write(reinterpret_cast<void*>(stream),
                                 DeviceSpan{d.device.get(), reinterpret_cast<std::byte*>(address), v.size()}, std::move(v),
                                 delay_us);
      },
      "device"_a, "stream"_a, "address"_a, "data"_a, "delay_us"_a,
      "A kernel on the stream (0: the legacy default) that writes data at address after delay_us.");
  t.def(
      "read_device",
      [](const PyDevice& d, std::uintptr_t address, std::size_t nbytes) {
        std::string out(nbytes, '\0');
        {
          py::gil_scoped_release unlocked;
          d.device->copy_to_host(reinterpret_cast<std::byte*>(out.data()),
                                 DeviceSpan{d.device.get(), reinterpret_cast<std::byte*>(address), nbytes});
        }
        return py::bytes(out);
      },
      "device"_a, "address"_a, "nbytes"_a, "The bytes at a device address (after the legacy default stream).");
  t.def("current_device", [] { return EmulatedDevice::current(); });
  t.def("set_current_device", [](int ordinal) { EmulatedDevice::make_current(ordinal); }, "ordinal"_a);
  t.def("registrations", [](const PyDevice& d) { return emulated(d).counters().registrations; }, "device"_a);
}

}  // namespace swapio::python
