// swapio._swapio: the engine for Python (the swapio package wraps it). This file: the module, its
// errors, results and the basic API; the other parts are bound by the files binding.hpp names.
// Every call that blocks releases the GIL.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "binding.hpp"

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

// swapio._errors' classes raised for swapio's C++ exceptions.
void bind_errors() {
  py::module_ errors = py::module_::import("swapio._errors");
  g_error = py::object(errors.attr("Error")).release().ptr();
  g_config_error = py::object(errors.attr("ConfigError")).release().ptr();
  g_validation_error = py::object(errors.attr("ValidationError")).release().ptr();
  py::register_exception_translator(&translate);
}

void bind_results(py::module_& m) {
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
      .def_readonly("gds", &OpResult::gds, "Device memory: the body moved by GPUDirect Storage (cuFile).")
      .def_readonly("gds_note", &OpResult::gds_note, "Device memory: why not (gds=auto fell back), or cuFile's compat mode.")
      .def_readonly("threads", &OpResult::threads)
      .def_readonly("requests", &OpResult::requests)
      .def_readonly("resubmits", &OpResult::resubmits)
      .def_readonly("validated", &OpResult::validated)
      .def_readonly("synced", &OpResult::synced)
      .def_readonly("replaced", &OpResult::replaced)
      .def_property_readonly("latency", &latency_dict,
                             "Per-request latency: count, mean_us, p50_us, p99_us, p999_us, max_us.")
      .def("__repr__", &result_repr);
}

// transfer, nbytes, address, memcpy.
void bind_basic(py::module_& m) {
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
}

}  // namespace

PYBIND11_MODULE(_swapio, m) {
  m.doc() = "swapio's engine (the swapio package wraps it; import swapio).";
  bind_errors();
  bind_config(m);
  bind_results(m);
  bind_handle(m);
  bind_basic(m);
  bind_memory(m);
  bind_testing(m);
  bind_gds(m);
  m.attr("__version__") = SWAPIO_VERSION;
}

}  // namespace swapio::python
