// swapio._swapio: the engine for Python. Memory comes in by its Python protocols (a torch
// tensor's data_ptr/numel/element_size, the buffer protocol, swapio's own device memory), never
// through libtorch, so any torch version works. Every call that blocks releases the GIL.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "swapio/swapio.hpp"

namespace py = pybind11;
using namespace pybind11::literals;

namespace swapio::python {
namespace {

// The exception classes of swapio._errors (Python classes, so that they pickle and subclass
// as Python users expect). Held for the life of the process.
PyObject* g_error = nullptr;
PyObject* g_config_error = nullptr;
PyObject* g_validation_error = nullptr;

[[noreturn]] void raise_config(const std::string& message) { throw ConfigError(message); }

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

std::string type_name(const py::handle& obj) { return py::str(py::type::handle_of(obj).attr("__qualname__")); }

// The memory of `obj` as a TensorSpan. `writable`: the op writes the memory (a read from a file).
struct Memory {
  TensorSpan span;
  Keep keep;
};

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

Memory resolve(const py::object& obj, bool writable, const char* what = "tensor") {
  Memory m;
  m.keep.object = obj;
  if (py::isinstance<DeviceMemory>(obj)) {
    auto& dm = obj.cast<DeviceMemory&>();
    m.span = TensorSpan(dm.buffer.span());
    return m;
  }
  if (py::hasattr(obj, "data_ptr") && py::hasattr(obj, "element_size") && py::hasattr(obj, "numel") &&
      py::hasattr(obj, "is_contiguous")) {
    // A torch tensor, by its Python protocol (libtorch is not linked).
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
  if (py::hasattr(obj, "__cuda_array_interface__")) {
    // CuPy, Numba and others: the CUDA Array Interface (version 3: its stream, when named).
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

Direction direction_of(bool write) { return write ? Direction::write : Direction::read; }

// The knob Python calls `name`: its Config member's name or its JSON key (not its flags).
const Knob* knob_named(const std::string& name) {
  const Knob* k = find_knob(name);
  return k != nullptr && (name == k->name || name == k->key) ? k : nullptr;
}

// Config from keyword arguments named as the knob table names them (Config's members, or their
// JSON keys): sizes and counts as int (sizes also as "1M"), flags as bool, choices as str.
void apply_knobs(Config& c, const py::dict& knobs) {
  for (auto [key, value] : knobs) {
    const std::string name = py::str(key);
    const Knob* k = knob_named(name);
    if (k == nullptr) {
      std::string names;
      for (const Knob& knob : swapio::knobs()) {
        if (!names.empty()) names += ", ";
        names += knob.name;
      }
      raise_config("unknown knob '" + name + "' (knobs: " + names + ")");
    }
    std::string text;
    if (k->kind == KnobKind::flag) {
      if (!py::isinstance<py::bool_>(value)) {
        raise_config(std::string(k->name) + " takes True or False, not " + std::string(py::repr(value)));
      }
      text = value.cast<bool>() ? "true" : "false";
    } else if (k->kind == KnobKind::choice) {
      if (!py::isinstance<py::str>(value)) {
        raise_config(std::string(k->name) + " takes one of " + std::string(k->choices) + ", not " +
                     std::string(py::repr(value)));
      }
      text = value.cast<std::string>();
    } else if (py::isinstance<py::bool_>(value)) {
      raise_config(std::string(k->name) + " takes a number, not " + std::string(py::repr(value)));
    } else if (py::isinstance<py::int_>(value)) {
      text = std::string(py::str(value));
    } else if (k->kind == KnobKind::size && py::isinstance<py::str>(value)) {
      text = value.cast<std::string>();
    } else {
      raise_config(std::string(k->name) + " takes " +
                   (k->kind == KnobKind::size ? "an int or a size such as '1M'" : "an int") + ", not " +
                   std::string(py::repr(value)));
    }
    try {
      k->set(c, text);
    } catch (const ConfigError& e) {
      const std::string what = e.what();
      if (what.rfind(std::string(k->name), 0) == 0) throw;
      raise_config(std::string(k->name) + ": " + what);
    }
  }
  c.validate();
}

py::object knob_value(const Config& c, const Knob& k) {
  switch (k.kind) {
    case KnobKind::flag: return py::bool_(k.number(c) != 0);
    case KnobKind::choice: return py::str(k.get(c));
    default: return py::int_(k.number(c));
  }
}

py::dict config_dict(const Config& c) {
  py::dict d;
  for (const Knob& k : knobs()) d[py::str(std::string(k.name))] = knob_value(c, k);
  return d;
}

// ---- asynchronous ops ----------------------------------------------------------------------

struct FutureState {
  Handle::OpId id = 0;
  std::mutex mutex;
  std::condition_variable cv;
  enum class Stage { pending, claimed, done } stage = Stage::pending;
  std::optional<OpResult> result;
  std::exception_ptr error;
};

// The Python Handle: swapio::Handle, the memory of its ops in flight, and their futures.
class PyHandle : public std::enable_shared_from_this<PyHandle> {
 public:
  explicit PyHandle(const Config& config) {
    py::gil_scoped_release unlocked;
    handle_ = std::make_shared<Handle>(config);
  }
  ~PyHandle() {
    // The ops in flight end before their memory is let go (keep_ is destroyed after this body,
    // with the GIL held, as the Python object's deallocation holds it).
    std::shared_ptr<Handle> h;
    {
      std::lock_guard lock(mutex_);
      h = std::move(handle_);
    }
    py::gil_scoped_release unlocked;
    h.reset();
  }

  std::shared_ptr<Handle> handle() const {
    std::lock_guard lock(mutex_);
    if (!handle_) throw std::runtime_error("swapio.Handle is closed");
    return handle_;
  }

  OpResult transfer(bool write, const py::object& tensor, const std::string& path, std::uint64_t offset,
                    bool validate) {
    Memory m = resolve(tensor, !write);
    py::gil_scoped_release unlocked;
    // The last reference to the engine may be this one (a concurrent close()): it goes before the
    // GIL is taken back, so that its threads are joined without it.
    const std::shared_ptr<Handle> h = handle();
    return h->transfer(direction_of(write), m.span, path, offset, validate);
  }

  std::shared_ptr<FutureState> submit(bool write, const py::object& tensor, const std::string& path,
                                      std::uint64_t offset, bool validate) {
    Memory m = resolve(tensor, !write);
    auto f = std::make_shared<FutureState>();
    {
      py::gil_scoped_release unlocked;
      const std::shared_ptr<Handle> h = handle();
      f->id = h->async_transfer(direction_of(write), m.span, path, offset, validate);
    }
    std::lock_guard lock(mutex_);
    keep_.emplace(f->id, std::move(m.keep));
    pending_.push_back(f);
    return f;
  }

  // Claims op f for the caller: true for exactly one caller, which must then finish(f).
  static bool claim(const std::shared_ptr<FutureState>& f) {
    std::lock_guard lock(f->mutex);
    if (f->stage != FutureState::Stage::pending) return false;
    f->stage = FutureState::Stage::claimed;
    return true;
  }

  // Waits for a claimed op in the engine, records its outcome, then lets its memory go. Called
  // with the GIL held; releases it while waiting.
  void finish(const std::shared_ptr<FutureState>& f) {
    {
      py::gil_scoped_release unlocked;
      std::shared_ptr<Handle> h;
      {
        std::lock_guard lock(mutex_);
        h = handle_;
      }
      std::optional<OpResult> result;
      std::exception_ptr error;
      try {
        if (!h) throw std::runtime_error("swapio.Handle was closed before op " + std::to_string(f->id) + " was reported");
        result = h->wait(f->id);
      } catch (...) {
        error = std::current_exception();
      }
      h.reset();  // without the GIL, should it be the last reference
      std::lock_guard lock(f->mutex);
      f->result = std::move(result);
      f->error = error;
      f->stage = FutureState::Stage::done;
      f->cv.notify_all();
    }
    Keep released;  // dies here, with the GIL held, after the lock is let go
    std::lock_guard lock(mutex_);
    if (auto it = keep_.find(f->id); it != keep_.end()) {
      released = std::move(it->second);
      keep_.erase(it);
    }
    std::erase(pending_, f);
  }

  // Waits until op f is done, whoever reports it.
  static void await_done(const std::shared_ptr<FutureState>& f) {
    py::gil_scoped_release unlocked;
    std::unique_lock lock(f->mutex);
    f->cv.wait(lock, [&] { return f->stage == FutureState::Stage::done; });
  }

  // A future's result(): reports op f here unless another call already does.
  void resolve_op(const std::shared_ptr<FutureState>& f) {
    if (claim(f)) {
      finish(f);
    } else {
      await_done(f);
    }
  }

  bool done(const std::shared_ptr<FutureState>& f) {
    {
      std::lock_guard lock(f->mutex);
      if (f->stage == FutureState::Stage::done) return true;
      if (f->stage == FutureState::Stage::claimed) return false;
    }
    auto h = handle();
    return h->done(f->id);
  }

  // Every op submitted so far: waits for all, then raises the first failure (in submission order)
  // among those this call reported. Each op is reported by exactly one call (wait() here, in
  // another thread, or a future's result()); returns how many this one reported.
  std::size_t wait_all() {
    std::vector<std::shared_ptr<FutureState>> ops;
    {
      std::lock_guard lock(mutex_);
      ops = pending_;
    }
    std::vector<bool> mine(ops.size());
    for (std::size_t i = 0; i < ops.size(); ++i) mine[i] = claim(ops[i]);
    std::exception_ptr first;
    std::size_t completed = 0;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      if (!mine[i]) {
        await_done(ops[i]);
        continue;
      }
      finish(ops[i]);
      ++completed;
      if (ops[i]->error && !first) first = ops[i]->error;
    }
    if (first) std::rethrow_exception(first);
    return completed;
  }

  std::size_t in_flight() const {
    std::lock_guard lock(mutex_);
    return pending_.size();
  }

  // Waits for the ops in flight, stops the threads (also when an op failed), then raises the
  // first failure.
  void close() {
    std::exception_ptr failed;
    try {
      wait_all();
    } catch (...) {
      failed = std::current_exception();
    }
    {
      py::gil_scoped_release unlocked;
      std::shared_ptr<Handle> h;
      {
        std::lock_guard lock(mutex_);
        h = std::move(handle_);
      }
      h.reset();
    }
    if (failed) std::rethrow_exception(failed);
  }

  bool closed() const {
    std::lock_guard lock(mutex_);
    return !handle_;
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<Handle::OpId, Keep> keep_;        // declared before handle_: destroyed after it
  std::vector<std::shared_ptr<FutureState>> pending_;  // not yet reported, in submission order
  std::shared_ptr<Handle> handle_;
};

struct PyFuture {
  std::shared_ptr<PyHandle> handle;
  std::shared_ptr<FutureState> state;
  bool write = false;
  std::string path;

  OpResult result() {
    handle->resolve_op(state);
    std::lock_guard lock(state->mutex);
    if (state->error) std::rethrow_exception(state->error);
    return *state->result;
  }
};

// ---- errors ------------------------------------------------------------------------------

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

// The host memory a DeviceMemory copies to (writable) or from: exactly its size.
Memory host_peer(const DeviceMemory& d, const py::object& obj, bool writable) {
  Memory m = resolve(obj, writable, writable ? "dest" : "src");
  if (m.span.on_device() || m.span.size() != d.buffer.size()) {
    raise_config(std::string(writable ? "copy_to takes writable" : "copy_from takes") + " host memory of exactly " +
                 std::to_string(d.buffer.size()) + " bytes");
  }
  return m;
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

  py::class_<Config>(m, "Config", R"(The knobs of a transfer, by the names of swapio's knob table.

Config(block_size=..., queue_depth=..., single_submit=..., overlap_events=...,
       intra_op_parallelism=..., engine=..., direct=..., register_files=...,
       register_buffers=..., staging=..., device_chunk_size=..., device_chunks=...,
       sync=..., atomic_replace=...)

Sizes take an int or a string such as "1M"; flags take bool; engine is "auto", "uring",
"aio" or "psync"; direct "auto", "on" or "off"; staging "auto", "always" or "never".
Unknown names and values that break a knob's rule raise swapio.ConfigError. Knobs not
given keep swapio's defaults (queue_depth 32, overlap_events True, ...).)")
      .def(py::init([](const py::kwargs& knobs) {
        Config c;
        apply_knobs(c, knobs);
        return c;
      }))
      .def(
          "replace",
          [](const Config& self, const py::kwargs& knobs) {
            Config c = self;
            apply_knobs(c, knobs);
            return c;
          },
          "A copy with the given knobs changed.")
      .def("to_dict", &config_dict, "Every knob's value, by name.")
      .def("__getattr__",
           [](const Config& c, const std::string& name) -> py::object {
             const Knob* k = knob_named(name);
             if (k == nullptr) {
               throw py::attribute_error("swapio.Config has no knob '" + name + "'");
             }
             return knob_value(c, *k);
           })
      .def("__eq__", [](const Config& a, const Config& b) { return config_dict(a).equal(config_dict(b)); })
      .def("__repr__", [](const Config& c) {
        std::string s = "swapio.Config(";
        bool first = true;
        for (const Knob& k : knobs()) {
          s += (first ? "" : ", ") + std::string(k.name) + "=" + std::string(py::repr(knob_value(c, k)));
          first = false;
        }
        return s + ")";
      });

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

  py::class_<PyFuture>(m, "Future", "An asynchronous op: result() waits for it; its memory is kept alive until then.")
      .def("result", &PyFuture::result,
           "Waits for the op (the GIL released); returns its OpResult or raises its error.")
      .def("done", [](PyFuture& f) { return f.handle->done(f.state); }, "Whether the op has ended, without waiting.")
      .def("exception",
           [](PyFuture& f) -> py::object {
             try {
               (void)f.result();
             } catch (py::error_already_set& e) {
               return e.value();
             } catch (...) {
               try {
                 translate(std::current_exception());  // swapio's errors: their Python classes
               } catch (const std::invalid_argument& e) {
                 PyErr_SetString(PyExc_ValueError, e.what());
               } catch (const std::exception& e) {
                 PyErr_SetString(PyExc_RuntimeError, e.what());
               }
               return py::error_already_set().value();
             }
             return py::none();
           },
           "Waits for the op; returns its exception, or None when it succeeded.")
      .def_property_readonly("id", [](const PyFuture& f) { return f.state->id; })
      .def("__repr__", [](PyFuture& f) {
        return std::string("<swapio.Future ") + (f.write ? "write" : "read") + " '" + f.path + "' " +
               (f.handle->done(f.state) ? "done" : "running") + ">";
      });

  py::class_<PyHandle, std::shared_ptr<PyHandle>>(m, "_Handle")
      .def(py::init<const Config&>())
      .def("transfer", &PyHandle::transfer, "write"_a, "tensor"_a, "path"_a, "offset"_a = 0, "validate"_a = false)
      .def(
          "submit",
          [](const std::shared_ptr<PyHandle>& self, bool write, const py::object& tensor, const std::string& path,
             std::uint64_t offset, bool validate) {
            return PyFuture{self, self->submit(write, tensor, path, offset, validate), write, path};
          },
          "write"_a, "tensor"_a, "path"_a, "offset"_a = 0, "validate"_a = false)
      .def("wait", &PyHandle::wait_all)
      .def("close", &PyHandle::close)
      .def_property_readonly("closed", &PyHandle::closed)
      .def_property_readonly("in_flight", &PyHandle::in_flight)
      .def_property_readonly("config", [](const PyHandle& h) { return h.handle()->config(); })
      .def_property_readonly("engine", [](const PyHandle& h) { return h.handle()->engine(); })
      .def_property_readonly("engine_note", [](const PyHandle& h) { return h.handle()->engine_note(); })
      .def(
          "_reference_seconds",
          [](const PyHandle& self, bool write, const py::object& tensor, const std::string& path, std::uint64_t offset,
             unsigned loops) {
            // The same op through the C++ Handle with no Python in the loop: the perf suite's reference.
            Memory mem = resolve(tensor, !write);
            std::vector<double> seconds;
            py::gil_scoped_release unlocked;
            const std::shared_ptr<Handle> h = self.handle();
            for (unsigned i = 0; i < loops; ++i) {
              const auto t0 = std::chrono::steady_clock::now();
              (void)h->transfer(direction_of(write), mem.span, path, offset, false);
              seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            }
            return seconds;
          },
          "write"_a, "tensor"_a, "path"_a, "offset"_a = 0, "loops"_a = 1);

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
  auto t = m.def_submodule("testing", "The host emulation of GPUs, for tests.");
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
  m.def("knob_names", [] {
    std::vector<std::string> names;
    for (const Knob& k : knobs()) names.emplace_back(k.name);
    return names;
  });
  m.attr("__version__") = SWAPIO_VERSION;
}

}  // namespace swapio::python
