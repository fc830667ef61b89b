// What the binding's files share: memory taken from Python objects by their protocols (a torch
// tensor's data_ptr/numel/element_size, the buffer protocol, swapio's own device memory), and the
// parts of the module each file binds.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>  // in every file of the module: one set of type casters

#include <memory>
#include <string>

#include "swapio/swapio.hpp"

namespace swapio::python {

namespace py = pybind11;

[[noreturn]] void raise_config(const std::string& message);

// A Py_buffer held for as long as an op uses its memory (a bytearray cannot be resized meanwhile).
struct HeldBuffer {
  Py_buffer view{};
  HeldBuffer() = default;
  HeldBuffer(const HeldBuffer&) = delete;
  HeldBuffer& operator=(const HeldBuffer&) = delete;
  ~HeldBuffer() { PyBuffer_Release(&view); }  // with the GIL held (see Keep)
};

// What keeps an op's memory alive: the Python object (and its exported buffer). Destroyed only
// with the GIL held.
struct Keep {
  py::object object;
  std::unique_ptr<HeldBuffer> buffer;
  std::shared_ptr<Device> device;  // the device of caller-owned device memory
};

// Device memory allocated by swapio for Python (the emulated device, or a CUDA device opened by
// spec). Keeps its device alive.
struct DeviceMemory {
  DeviceBuffer buffer;
  std::string device_name;
};

struct PyDevice {
  std::shared_ptr<Device> device;
};

// The memory of `obj` as a TensorSpan. `writable`: the op writes the memory (a read from a file).
struct Memory {
  TensorSpan span;
  Keep keep;
};

std::string type_name(const py::handle& obj);
// The memory of `obj` for an op; `what` names it in errors.
Memory resolve(const py::object& obj, bool writable, const char* what = "tensor");
// The host memory a DeviceMemory copies to (writable) or from: exactly its size.
Memory host_peer(const DeviceMemory& d, const py::object& obj, bool writable);

inline Direction direction_of(bool write) { return write ? Direction::write : Direction::read; }

void bind_config(py::module_& m);  // Config, knob_names
void bind_handle(py::module_& m);  // _Handle, _Op, and the completion queue Future uses
void bind_memory(py::module_& m);  // PinnedMemory, Device, DeviceMemory, open_device, cuda_built
void bind_testing(py::module_& m);
void bind_gds(py::module_& m);  // gds_info, gds_summary, gds_register, gds_deregister  // the testing submodule: the emulation's controls, injected faults

}  // namespace swapio::python
