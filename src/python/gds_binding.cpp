// GPUDirect Storage for Python: whether this machine has it, and registration of device memory
// with cuFile (swapio.deepspeed's gds_handle pins device tensors through these).
#include <pybind11/pybind11.h>

#include "binding.hpp"
#include "swapio/gds.hpp"

namespace swapio::python {

using namespace pybind11::literals;

namespace {

DeviceSpan device_span(const py::object& obj, const char* what) {
  Memory m = resolve(obj, true, what);
  if (!m.span.on_device()) {
    raise_config(std::string(what) + " is host memory: GPUDirect Storage registers device memory only");
  }
  return DeviceSpan{m.span.device(), m.span.data(), m.span.size(), nullptr};
}

}  // namespace

void bind_gds(py::module_& m) {
  m.def(
      "gds_info",
      [] {
        const GdsInfo i = gds_info();
        py::dict d;
        d["loaded"] = i.loaded;
        d["library"] = i.library;
        d["version"] = i.version;
        d["nvidia_fs"] = i.nvidia_fs;
        d["why_not"] = i.why_not;
        return d;
      },
      "GPUDirect Storage here: {'loaded', 'library', 'version', 'nvidia_fs', 'why_not'} (loads libcufile, does "
      "not open its driver).");
  m.def("gds_summary", &gds_summary, "One line: 'cuFile 1.15 (libcufile.so.0), nvidia-fs loaded' or 'no: why'.");
  m.def(
      "gds_register", [](const py::object& buffer) { gds_register(device_span(buffer, "buffer")); }, "buffer"_a,
      "Registers device memory with cuFile (cuFileBufRegister) until gds_deregister; raises ConfigError where GDS is "
      "unavailable, swapio.Error with cuFile's error (already registered).");
  m.def(
      "gds_deregister", [](const py::object& buffer) { gds_deregister(device_span(buffer, "buffer")); }, "buffer"_a,
      "Deregisters device memory gds_register registered; raises swapio.Error with cuFile's error (not registered).");
  m.def("gds_registered_buffers", &gds_registered_buffers, "Device buffers registered with cuFile now.");
}

}  // namespace swapio::python
