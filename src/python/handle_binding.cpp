// swapio._swapio._Handle: the engine's Handle for Python, the memory of its ops in flight, their
// reporting (each op counted by exactly one wait(), or retrieved through its future), and the
// process's completion queue, from which swapio.Future objects are settled as their ops end.
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <pybind11/stl.h>

#include "binding.hpp"

using namespace pybind11::literals;

namespace swapio::python {
namespace {

class PyHandle;

struct FutureState {
  Handle::OpId id = 0;
  std::uint64_t serial = 0;         // unique in the process: how swapio.Future finds its op
  std::mutex mutex;
  std::condition_variable cv;
  enum class Stage { pending, claimed, done } stage = Stage::pending;
  std::optional<OpResult> result;
  std::exception_ptr error;
  bool reported = false;  // counted by a wait(), or retrieved through its future
};

// Ops that have ended and whose futures wait to be settled, for the process's one Python thread
// that settles them (swapio._future). A forked child starts with a new, empty queue.
struct Completions {
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::uint64_t> queue;  // the ops' serials
  bool stopped = false;

  void push(std::uint64_t serial) {
    {
      std::lock_guard lock(mutex);
      queue.push_back(serial);
    }
    cv.notify_one();
  }
};

Completions* g_completions = new Completions;  // never freed: engine threads may push at exit

// The Python Handle: swapio::Handle, the memory of its ops in flight, and their states.
class PyHandle {
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
    if (!handle_) throw ConfigError("this swapio.Handle is closed");
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
    static std::atomic<std::uint64_t> next_serial{1};
    Memory m = resolve(tensor, !write);
    auto f = std::make_shared<FutureState>();
    f->serial = next_serial.fetch_add(1);
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

  // Has op f go to the completion queue once it has ended.
  void notify(const std::shared_ptr<FutureState>& f) {
    py::gil_scoped_release unlocked;  // h may be the engine's last reference (a concurrent close())
    std::shared_ptr<Handle> h;
    {
      std::lock_guard lock(mutex_);
      h = handle_;
    }
    try {
      if (h) {
        h->notify(f->id, [serial = f->serial] { g_completions->push(serial); });
        return;
      }
    } catch (...) {
      // Collected by another call meanwhile (it has ended), or the engine refused: settling it
      // reports whatever its outcome is.
    }
    g_completions->push(f->serial);
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
        if (!h) throw ConfigError("swapio.Handle was closed before op " + std::to_string(f->id) + " was reported");
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
  }

  // Waits until op f is done, whoever collects it.
  static void await_done(const std::shared_ptr<FutureState>& f) {
    py::gil_scoped_release unlocked;
    std::unique_lock lock(f->mutex);
    f->cv.wait(lock, [&] { return f->stage == FutureState::Stage::done; });
  }

  // Op f's outcome, collected here unless another call already does.
  void collect(const std::shared_ptr<FutureState>& f) {
    if (claim(f)) {
      finish(f);
    } else {
      await_done(f);
    }
  }

  // Marks op f reported: true for the first caller only.
  bool report(const std::shared_ptr<FutureState>& f) {
    std::lock_guard lock(mutex_);
    {
      std::lock_guard state_lock(f->mutex);
      if (f->reported) return false;
      f->reported = true;
    }
    std::erase(pending_, f);
    return true;
  }

  bool done(const std::shared_ptr<FutureState>& f) {
    {
      std::lock_guard lock(f->mutex);
      if (f->stage == FutureState::Stage::done) return true;
      if (f->stage == FutureState::Stage::claimed) return false;
    }
    py::gil_scoped_release unlocked;  // the engine's last reference may go here (a concurrent close())
    try {
      return handle()->done(f->id);
    } catch (const std::invalid_argument&) {
      return false;  // being collected by another thread
    }
  }

  // Every op not yet reported: waits for all, then raises the first failure (in submission order)
  // among those this call reported. Returns how many it reported.
  std::size_t wait_all() {
    std::vector<std::shared_ptr<FutureState>> ops;
    {
      std::lock_guard lock(mutex_);
      ops = pending_;
    }
    for (const auto& op : ops) collect(op);
    std::exception_ptr first;
    std::size_t reported = 0;
    for (const auto& op : ops) {
      if (!report(op)) continue;
      ++reported;
      std::lock_guard lock(op->mutex);
      if (op->error && !first) first = op->error;
    }
    if (first) std::rethrow_exception(first);
    return reported;
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

// An async op, as swapio.Future holds it.
struct PyOp {
  std::shared_ptr<PyHandle> handle;
  std::shared_ptr<FutureState> state;
  bool write = false;
  std::string path;

  // Waits for the op (the GIL released); returns its OpResult or raises its error.
  OpResult outcome() {
    handle->collect(state);
    std::lock_guard lock(state->mutex);
    if (state->error) std::rethrow_exception(state->error);
    return *state->result;
  }
};

// The serial of the next op whose future is to be settled (the GIL released while waiting), or
// None once stopped.
py::object next_completion() {
  std::optional<std::uint64_t> serial;
  {
    py::gil_scoped_release unlocked;
    Completions& c = *g_completions;
    std::unique_lock lock(c.mutex);
    c.cv.wait(lock, [&] { return c.stopped || !c.queue.empty(); });
    if (!c.stopped) {
      serial = c.queue.front();
      c.queue.pop_front();
    }
  }
  return serial ? py::object(py::int_(*serial)) : py::object(py::none());
}

void stop_completions() {
  {
    std::lock_guard lock(g_completions->mutex);
    g_completions->stopped = true;
  }
  g_completions->cv.notify_all();
}

}  // namespace

void bind_handle(py::module_& m) {
  // A forked child has none of the parent's settling thread: its queue starts empty (and unlocked).
  static const int registered = ::pthread_atfork(nullptr, nullptr, [] { g_completions = new Completions; });
  (void)registered;

  py::class_<PyOp>(m, "_Op", "An asynchronous op, as swapio.Future holds it.")
      .def("outcome", &PyOp::outcome, "Waits for the op; returns its OpResult or raises its error.")
      .def("done", [](PyOp& op) { return op.handle->done(op.state); }, "Whether the op has ended, without waiting.")
      .def("report", [](PyOp& op) { return op.handle->report(op.state); },
           "Marks the op reported (wait() no longer counts it): True the first time.")
      .def_property_readonly("reported", [](const PyOp& op) {
        std::lock_guard lock(op.state->mutex);
        return op.state->reported;
      })
      .def("notify", [](PyOp& op) { op.handle->notify(op.state); }, "Queues the op for settling once it has ended.")
      .def_property_readonly("serial", [](const PyOp& op) { return op.state->serial; })
      .def_property_readonly("id", [](const PyOp& op) { return op.state->id; })
      .def_readonly("write", &PyOp::write)
      .def_readonly("path", &PyOp::path);

  m.def("_next_completion", &next_completion);
  m.def("_stop_completions", &stop_completions);

  py::class_<PyHandle, std::shared_ptr<PyHandle>>(m, "_Handle")
      .def(py::init<const Config&>())
      .def("transfer", &PyHandle::transfer, "write"_a, "tensor"_a, "path"_a, "offset"_a = 0, "validate"_a = false)
      .def(
          "submit",
          [](const std::shared_ptr<PyHandle>& self, bool write, const py::object& tensor, const std::string& path,
             std::uint64_t offset, bool validate) {
            return PyOp{self, self->submit(write, tensor, path, offset, validate), write, path};
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
}

}  // namespace swapio::python
