// swapio._swapio: the engine for Python (the swapio package wraps it). This file: the module, its
// errors, results, the basic API, page-locked and device memory, and the emulation's controls.
// Every call that blocks releases the GIL.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "binding.hpp"
#include "swapio/fault.hpp"

using namespace pybind11::literals;

namespace swapio::python {
namespace {

// The exception classes of swapio._errors (Python classes, so that they pickle and subclass
// as Python users expect). Held for the life of the process.
PyObject* g_error = nullptr;
PyObject* g_config_error = nullptr;
PyObject* g_validation_error = nullptr;

void translate(std::exception_ptr p) {
  try {
    if (p) std::rethrow_exception(p);
  } catch (const Error& e) {
    py::object exc = py::reinterpret_borrow<py::object>(g_error)(
        e.errnum(), e.what(), e.path().empty() ? py::object(py::none()) : py::object(py::str(e.path())),
        "op"_a = e.op(), "offset"_a = e.offset(), "length"_a = e.length());
    PyErr_SetObject(g_error, exc.ptr());
  } catch (const ValidationError& e) {
    py::object exc = py::reinterpret_borrow<py::object>(g_validation_error)(e.what(), "file_offset"_a = e.file_offset(),
                                                                             "buffer_offset"_a = e.buffer_offset());
    PyErr_SetObject(g_validation_error, exc.ptr());
  } catch (const ConfigError& e) {
    PyErr_SetString(g_config_error, e.what());
  }
}


py::dict latency_dict(const OpResult& r) {
  const LatencySummary l = r.latency();
  return py::dict("count"_a = l.count, "mean_us"_a = l.mean_us, "p50_us"_a = l.p50_us, "p99_us"_a = l.p99_us,
                  "p999_us"_a = l.p999_us, "max_us"_a = l.max_us);
}

std::string result_repr(const OpResult& r) {
  char rate[64];
  std::snprintf(rate, sizeof rate, "%.3f GiB/s", r.gib_per_s());
  return std::string("<swapio.OpResult ") + (r.write ? "write " : "read ") + format_bytes(r.bytes) + " " +
         (r.path.empty() ? "" : "'" + r.path + "' ") + rate + " engine=" + r.engine +
         (r.direct ? " direct" : " buffered") + (r.staged ? " staged" : "") + (r.validated ? " validated" : "") + ">";
}

}  // namespace

PYBIND11_MODULE(_swapio, m) {
  m.doc() = "swapio's engine (the swapio package wraps it; import swapio).";
  py::module_ errors = py::module_::import("swapio._errors");
  g_error = py::object(errors.attr("Error")).release().ptr();
  g_config_error = py::object(errors.attr("ConfigError")).release().ptr();
  g_validation_error = py::object(errors.attr("ValidationError")).release().ptr();
  py::register_exception_translator(&translate);

  bind_config(m);

  py::class_<OpResult>(m, "OpResult", "What one transfer did: bytes, time, engine, O_DIRECT, staging, latencies.")
      .def_readonly("write", &OpResult::write)
      .def_readonly("path", &OpResult::path)
      .def_readonly("offset", &OpResult::offset)
      .def_readonly("bytes", &OpResult::bytes)
      .def_readonly("seconds", &OpResult::seconds, "From the call to the last completion (and sync), validation excluded.")
      .def_property_readonly("gib_per_s", &OpResult::gib_per_s, "bytes / seconds, in 2^30 bytes per second.")
      .def_readonly("engine", &OpResult::engine, "'uring', 'aio' or 'psync'.")
      .def_readonly("engine_note", &OpResult::engine_note)
      .def_readonly("direct", &OpResult::direct, "O_DIRECT used for the aligned body.")
      .def_readonly("direct_note", &OpResult::direct_note)
      .def_readonly("staged", &OpResult::staged, "Some requests went through swapio's staging memory.")
      .def_readonly("device", &OpResult::device, "The device of device memory ('' for host memory).")
      .def_readonly("threads", &OpResult::threads)
      .def_readonly("requests", &OpResult::requests)
      .def_readonly("resubmits", &OpResult::resubmits)
      .def_readonly("validated", &OpResult::validated)
      .def_readonly("synced", &OpResult::synced)
      .def_readonly("replaced", &OpResult::replaced)
      .def_property_readonly("latency", &latency_dict,
                             "Per-request latency: count, mean_us, p50_us, p99_us, p999_us, max_us.")
      .def("__repr__", &result_repr);

  bind_handle(m);

  m.def(
      "transfer",
      [](bool write, const py::object& tensor, const std::string& path, const Config& config, std::uint64_t offset,
         bool validate) {
        Memory mem = resolve(tensor, !write);
        py::gil_scoped_release unlocked;
        return swapio::transfer(direction_of(write), mem.span, path, config, offset, validate);
      },
      "write"_a, "tensor"_a, "path"_a, "config"_a, "offset"_a = 0, "validate"_a = false);

  m.def(
      "nbytes", [](const py::object& tensor) { return resolve(tensor, false).span.size(); }, "tensor"_a,
      "The number of bytes an op on this memory moves (raises as an op would for memory it refuses).");
  m.def(
      "address", [](const py::object& tensor) { return reinterpret_cast<std::uintptr_t>(resolve(tensor, false).span.data()); },
      "tensor"_a);

  m.def(
      "memcpy",
      [](const py::object& dest, const py::object& src) {
        Memory d = resolve(dest, true, "dest");
        Memory s = resolve(src, false, "src");
        if (d.span.on_device() || s.span.on_device()) raise_config("memcpy copies host memory only");
        if (d.span.size() != s.span.size()) {
          raise_config("memcpy: dest has " + std::to_string(d.span.size()) + " bytes and src " +
                       std::to_string(s.span.size()) + ": they must be the same size");
        }
        py::gil_scoped_release unlocked;
        if (d.span.size() != 0) std::memmove(d.span.data(), s.span.data(), d.span.size());
      },
      "dest"_a, "src"_a);

  py::class_<HostBuffer>(m, "PinnedMemory", py::buffer_protocol(),
                         "Page-locked, 2 MiB-aligned, huge-page host memory that swapio moves without staging.")
      .def(py::init([](std::size_t nbytes) {
             py::gil_scoped_release unlocked;
             return HostBuffer(nbytes, MemoryKind::pinned);
           }),
           "nbytes"_a)
      .def_buffer([](HostBuffer& b) {
        return py::buffer_info(b.data(), 1, py::format_descriptor<std::uint8_t>::format(), 1,
                               {static_cast<py::ssize_t>(b.size())}, {1});
      })
      .def_property_readonly("address", [](const HostBuffer& b) { return reinterpret_cast<std::uintptr_t>(b.data()); })
      .def_property_readonly("nbytes", &HostBuffer::size)
      .def("__len__", &HostBuffer::size);

  py::class_<PyDevice>(m, "Device", "A device whose memory swapio moves through its staging ring.")
      .def_property_readonly("name", [](const PyDevice& d) { return d.device->name(); })
      .def(
          "empty",
          [](const PyDevice& d, std::size_t nbytes) {
            py::gil_scoped_release unlocked;
            return DeviceMemory{DeviceBuffer(d.device, nbytes), d.device->name()};
          },
          "nbytes"_a, "Device memory of nbytes bytes (its content undefined).")
      .def_property_readonly("ordinal", [](const PyDevice& d) { return d.device->ordinal(); })
      .def_property_readonly("cached_staging_bytes", [](const PyDevice& d) { return d.device->cached_staging_bytes(); })
      .def("trim_staging", [](const PyDevice& d) { d.device->trim_staging(); },
           "Frees the registered staging memory the device's driver keeps for reuse.")
      .def("__repr__", [](const PyDevice& d) { return "<swapio.Device " + d.device->name() + ">"; });

  py::class_<DeviceMemory>(m, "DeviceMemory",
                           "Memory on a device, allocated by swapio: pass it to the same calls as host memory.")
      .def_property_readonly("nbytes", [](const DeviceMemory& d) { return d.buffer.size(); })
      .def_property_readonly("device", [](const DeviceMemory& d) { return d.device_name; })
      .def_property_readonly("address",
                             [](const DeviceMemory& d) { return reinterpret_cast<std::uintptr_t>(d.buffer.span().data); },
                             "The device address (what a CUDA tensor's data_ptr() is).")
      .def(
          "copy_from",
          [](DeviceMemory& d, const py::object& src) {
            const Memory s = host_peer(d, src, false);
            py::gil_scoped_release unlocked;
            d.buffer.device().copy_to_device(d.buffer.span(), s.span.data());
          },
          "src"_a, "Copies host memory of the same size into this device memory.")
      .def(
          "copy_to",
          [](DeviceMemory& d, const py::object& dest) {
            const Memory t = host_peer(d, dest, true);
            py::gil_scoped_release unlocked;
            d.buffer.device().copy_to_host(t.span.data(), d.buffer.span());
          },
          "dest"_a, "Copies this device memory into host memory of the same size.")
      .def(
          "tobytes",
          [](DeviceMemory& d) {
            std::string out(d.buffer.size(), '\0');
            {
              py::gil_scoped_release unlocked;
              d.buffer.device().copy_to_host(reinterpret_cast<std::byte*>(out.data()), d.buffer.span());
            }
            return py::bytes(out);
          },
          "The content, copied to the host.")
      .def("__len__", [](const DeviceMemory& d) { return d.buffer.size(); })
      .def("__repr__", [](const DeviceMemory& d) {
        return "<swapio.DeviceMemory " + format_bytes(d.buffer.size()) + " on " + d.device_name + ">";
      });

  m.def(
      "open_device",
      [](const std::string& spec) { return PyDevice{swapio::open_device(spec)}; },
      "spec"_a);
  m.def("cuda_built", &cuda_built);

  // The emulation's controls, for tests of the GPU path without a GPU (swapio.testing).
  auto t = m.def_submodule("testing", "The host emulation of GPUs, and injected faults, for tests.");
  t.def(
      "with_faults",
      [](const Config& config, int error, std::uint64_t first, std::uint64_t count, const std::string& op,
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
      },
      "config"_a, "error"_a = EIO, "first"_a = 1, "count"_a = 1, "op"_a = "any", "delay_us"_a = 0,
      "A copy of config whose requests (counted from 1 over `op`: 'read', 'write' or 'any') numbered first to "
      "first + count - 1 (count 0: every one from first on) fail with errno `error`, or, with delay_us, complete "
      "that late.");
  const auto emulated = [](const PyDevice& d) -> EmulatedDevice& {
    auto* e = dynamic_cast<EmulatedDevice*>(d.device.get());
    if (e == nullptr) raise_config(d.device->name() + " is not an emulated device");
    return *e;
  };
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
      [emulated](const PyDevice& d, bool blocking) {
        return reinterpret_cast<std::uintptr_t>(emulated(d).create_caller_stream(blocking));
      },
      "device"_a, "blocking"_a = true, "A caller's stream on the device, as torch's stream.cuda_stream.");
  t.def(
      "launch_write",
      [emulated](const PyDevice& d, std::uintptr_t stream, std::uintptr_t address, const py::bytes& data,
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
  t.def("registrations", [emulated](const PyDevice& d) { return emulated(d).counters().registrations; }, "device"_a);
  m.attr("__version__") = SWAPIO_VERSION;
}

}  // namespace swapio::python
