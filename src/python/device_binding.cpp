// swapio._swapio's memory: page-locked host memory (PinnedMemory), devices (Device, open_device)
// and the device memory swapio allocates for Python (DeviceMemory).
#include <cstdint>
#include <string>

#include "binding.hpp"

using namespace pybind11::literals;

namespace swapio::python {
namespace {

void bind_pinned_memory(py::module_& m) {
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
}

void bind_device(py::module_& m) {
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
}

void bind_device_memory(py::module_& m) {
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
}

}  // namespace

void bind_memory(py::module_& m) {
  bind_pinned_memory(m);
  bind_device(m);
  bind_device_memory(m);
  m.def(
      "open_device",
      [](const std::string& spec) { return PyDevice{swapio::open_device(spec)}; },
      "spec"_a);
  m.def("cuda_built", &cuda_built);
}

}  // namespace swapio::python
