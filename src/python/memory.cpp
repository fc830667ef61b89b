// Memory for an op, from a Python object by its protocols: swapio's DeviceMemory, a torch tensor
// (CPU, or CUDA after torch's current stream), a CUDA Array Interface object, or the buffer protocol.
// libtorch is never linked, so any torch version works.
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "binding.hpp"

namespace swapio::python {

void raise_config(const std::string& message) { throw ConfigError(message); }

std::string type_name(const py::handle& obj) { return py::str(py::type::handle_of(obj).attr("__qualname__")); }

namespace {

// Caller-owned device memory: its device found by the drivers (wrap_device_pointer), which must
// be device `index` when the tensor names one.
Memory device_memory(Memory m, std::uintptr_t ptr, std::size_t bytes, std::uintptr_t stream, int index, const char* what) {
  WrappedDeviceMemory w;
  try {
    w = wrap_device_pointer(reinterpret_cast<const void*>(ptr), bytes, reinterpret_cast<void*>(stream));
  } catch (const ConfigError& e) {
    raise_config(std::string(what) + ": " + e.what());
  }
  if (index >= 0 && w.device->ordinal() != index) {
    raise_config(std::string(what) + " says it is on device " + std::to_string(index) + " but its memory is " +
                 w.device->name() + "'s");
  }
  m.keep.device = w.device;
  m.span = TensorSpan(w.span);
  return m;
}

// A torch tensor, by its Python protocol (libtorch is not linked): CPU memory, or CUDA memory
// ordered after torch's current stream of the tensor's device.
Memory from_torch(Memory m, const py::object& obj, const char* what) {
  const py::object device = obj.attr("device");
  const std::string device_type = py::str(device.attr("type"));
  if (device_type != "cpu" && device_type != "cuda") {
    raise_config(std::string(what) + " is on device '" + std::string(py::str(device)) +
                 "': swapio moves CPU and CUDA tensors; copy it to one of them");
  }
  if (!obj.attr("is_contiguous")().cast<bool>()) {
    raise_config(std::string(what) + " is not contiguous (a strided view): pass tensor.contiguous()");
  }
  const auto numel = obj.attr("numel")().cast<std::uint64_t>();
  const auto elem = obj.attr("element_size")().cast<std::uint64_t>();
  const auto ptr = obj.attr("data_ptr")().cast<std::uintptr_t>();
  const std::size_t bytes = numel * elem;
  if (device_type == "cuda" && bytes != 0) {
    // Ordered after torch's current stream of the tensor's device (0: the legacy default).
    const py::object torch_cuda = py::module_::import("torch").attr("cuda");
    const py::object index_obj = device.attr("index");
    const int index = index_obj.is_none() ? torch_cuda.attr("current_device")().cast<int>() : index_obj.cast<int>();
    const auto stream = torch_cuda.attr("current_stream")(device).attr("cuda_stream").cast<std::uintptr_t>();
    return device_memory(std::move(m), ptr, bytes, stream, index, what);
  }
  m.span = TensorSpan(std::span<std::byte>(reinterpret_cast<std::byte*>(ptr), bytes));
  return m;
}

// CuPy, Numba and others: the CUDA Array Interface (version 3: its stream, when named).
Memory from_cuda_array_interface(Memory m, const py::object& obj, bool writable, const char* what) {
  const py::dict cai = obj.attr("__cuda_array_interface__");
  const py::tuple data = cai["data"];
  const auto ptr = data[0].cast<std::uintptr_t>();
  if (writable && data[1].cast<bool>()) {
    raise_config(std::string(what) + " (" + type_name(obj) + ") is read-only: a read needs writable memory");
  }
  const std::string typestr = py::str(cai["typestr"]);
  std::uint64_t itemsize = 0;
  if (typestr.size() >= 3) itemsize = std::strtoull(typestr.c_str() + 2, nullptr, 10);
  if (itemsize == 0) raise_config(std::string(what) + ": __cuda_array_interface__ typestr '" + typestr + "' is not understood");
  std::uint64_t numel = 1;
  std::vector<std::uint64_t> shape;
  for (const auto& d : py::tuple(cai["shape"])) shape.push_back(d.cast<std::uint64_t>());
  for (std::uint64_t d : shape) numel *= d;
  if (cai.contains("strides") && !cai["strides"].is_none() && numel > 1) {
    std::uint64_t expect = itemsize;
    const py::tuple strides = cai["strides"];
    for (std::size_t k = shape.size(); k-- > 0;) {
      if (shape[k] != 1 && strides[k].cast<std::uint64_t>() != expect) {
        raise_config(std::string(what) + " (" + type_name(obj) + ") is not C-contiguous: pass a contiguous copy");
      }
      expect *= shape[k];
    }
  }
  std::uintptr_t stream = 0;  // 1 and absent (None): the legacy default stream
  if (cai.contains("stream") && !cai["stream"].is_none()) {
    stream = cai["stream"].cast<std::uintptr_t>();
    if (stream == 1) stream = 0;
    if (stream == 2) raise_config(std::string(what) + ": the per-thread default stream (2) is not supported");
  }
  if (numel * itemsize == 0) return m;
  return device_memory(std::move(m), ptr, numel * itemsize, stream, -1, what);
}

// The buffer protocol (numpy, bytearray, memoryview, mmap): the exported buffer is held with m.
Memory from_buffer(Memory m, const py::object& obj, bool writable, const char* what) {
  if (!PyObject_CheckBuffer(obj.ptr())) {
    throw py::type_error(std::string(what) + " must be a torch tensor, an object with the buffer protocol "
                         "(numpy array, bytearray, memoryview, mmap) or swapio device memory, not " + type_name(obj));
  }
  auto held = std::make_unique<HeldBuffer>();
  if (PyObject_GetBuffer(obj.ptr(), &held->view, PyBUF_C_CONTIGUOUS) != 0) {
    // Nothing was exported (view.obj is null: releasing it is a no-op).
    py::error_already_set e;
    const bool contiguity = e.matches(PyExc_BufferError) || e.matches(PyExc_ValueError);
    raise_config(std::string(what) + " (" + type_name(obj) + ") " +
                 (contiguity ? "is not C-contiguous: " : "cannot lend its memory: ") + e.what());
  }
  if (writable && held->view.readonly) {
    raise_config(std::string(what) + " (" + type_name(obj) + ") is read-only: a read needs writable memory");
  }
  m.span = TensorSpan(std::span<std::byte>(static_cast<std::byte*>(held->view.buf),
                                           static_cast<std::size_t>(held->view.len)));
  m.keep.buffer = std::move(held);
  return m;
}

}  // namespace

Memory resolve(const py::object& obj, bool writable, const char* what) {
  Memory m;
  m.keep.object = obj;
  if (py::isinstance<DeviceMemory>(obj)) {
    auto& dm = obj.cast<DeviceMemory&>();
    m.span = TensorSpan(dm.buffer.span());
    return m;
  }
  if (py::hasattr(obj, "data_ptr") && py::hasattr(obj, "element_size") && py::hasattr(obj, "numel") &&
      py::hasattr(obj, "is_contiguous")) {
    return from_torch(std::move(m), obj, what);
  }
  if (py::hasattr(obj, "__cuda_array_interface__")) return from_cuda_array_interface(std::move(m), obj, writable, what);
  return from_buffer(std::move(m), obj, writable, what);
}

Memory host_peer(const DeviceMemory& d, const py::object& obj, bool writable) {
  Memory m = resolve(obj, writable, writable ? "dest" : "src");
  if (m.span.on_device() || m.span.size() != d.buffer.size()) {
    raise_config(std::string(writable ? "copy_to takes writable" : "copy_from takes") + " host memory of exactly " +
                 std::to_string(d.buffer.size()) + " bytes");
  }
  return m;
}

}  // namespace swapio::python
