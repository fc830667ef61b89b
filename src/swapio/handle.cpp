#include "swapio/handle.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "swapio/detail/op.hpp"
#include "swapio/detail/transfer.hpp"

namespace swapio {
namespace {

// One operation in flight: its slices run on the workers; the last one to finish validates,
// builds the result and wakes whoever waits.
struct OpState {
  explicit OpState(detail::PreparedOp prepared) : op(std::move(prepared)), stats(op.slices.size()),
                                                  remaining(op.slices.size()) {}

  detail::PreparedOp op;
  std::vector<detail::SliceStats> stats;
  std::atomic<bool> cancel{false};

  std::mutex mutex;
  std::condition_variable cv;
  std::size_t remaining;
  bool done = false;
  std::exception_ptr error;
  OpResult result;

  void fail(std::exception_ptr e) {
    std::lock_guard lock(mutex);
    if (!error) error = std::move(e);
    cancel.store(true);
  }

  void wait_done() {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return done; });
  }
};

struct Task {
  std::shared_ptr<OpState> op;
  std::size_t slice = 0;
};

}  // namespace

struct Handle::Impl {
  struct WorkerThread {
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<Task> tasks;
    bool stop = false;
    std::thread thread;
  };

  Config config;
  std::string engine;
  std::string engine_note;
  std::vector<std::unique_ptr<WorkerThread>> workers;

  std::mutex pending_mutex;
  std::vector<std::pair<OpId, std::shared_ptr<OpState>>> pending;
  std::atomic<OpId> next_id{1};

  explicit Impl(const Config& c) : config(c) {
    config.validate();
    std::vector<std::future<std::pair<std::string, std::string>>> started;
    try {
      launch(started);
    } catch (...) {
      stop_all();  // threads already started must not outlive a failed constructor
      throw;
    }
    std::exception_ptr failed;
    for (auto& f : started) {
      try {
        auto [name, note] = f.get();
        if (engine.empty()) {
          engine = name;
          engine_note = note;
        }
      } catch (...) {
        if (!failed) failed = std::current_exception();
      }
    }
    if (failed) {
      stop_all();
      std::rethrow_exception(failed);
    }
  }

  ~Impl() { stop_all(); }

  void launch(std::vector<std::future<std::pair<std::string, std::string>>>& started) {
    workers.reserve(config.intra_op_parallelism);
    for (unsigned i = 0; i < config.intra_op_parallelism; ++i) {
      auto w = std::make_unique<WorkerThread>();
      std::promise<std::pair<std::string, std::string>> ready;
      started.push_back(ready.get_future());
      w->thread = std::thread([this, wt = w.get(), ready = std::move(ready)]() mutable {
        std::unique_ptr<detail::Worker> worker;
        try {
          worker = std::make_unique<detail::Worker>(config);  // its ring belongs to this thread
          ready.set_value({worker->backend().name(), worker->engine_note()});
        } catch (...) {
          ready.set_exception(std::current_exception());
          return;
        }
        serve(*wt, *worker);
      });
      workers.push_back(std::move(w));
    }
  }


  void stop_all() noexcept {
    for (auto& w : workers) {
      {
        std::lock_guard lock(w->mutex);
        w->stop = true;
      }
      w->cv.notify_one();
    }
    for (auto& w : workers) {
      if (w->thread.joinable()) w->thread.join();
    }
  }

  static void serve(WorkerThread& wt, detail::Worker& worker) {
    for (;;) {
      Task task;
      {
        std::unique_lock lock(wt.mutex);
        wt.cv.wait(lock, [&] { return wt.stop || !wt.tasks.empty(); });
        if (wt.tasks.empty()) return;  // stop, and nothing left to do
        task = std::move(wt.tasks.front());
        wt.tasks.pop_front();
      }
      OpState& s = *task.op;
      const detail::PreparedOp& op = s.op;
      try {
        s.stats[task.slice] = worker.run(op.file, op.write, detail::slice_memory(op, task.slice),
                                         op.slices[task.slice].offset, op.slices[task.slice].length, &s.cancel,
                                         op.device);
      } catch (...) {
        s.fail(std::current_exception());
      }
      finish_slice(s, worker);
    }
  }

  static void finish_slice(OpState& s, detail::Worker& worker) {
    {
      std::lock_guard lock(s.mutex);
      if (--s.remaining > 0) return;
    }
    // The last slice: validate and report outside the lock, then publish.
    OpResult result;
    std::exception_ptr error;
    {
      std::lock_guard lock(s.mutex);
      error = std::move(s.error);
    }
    if (!error) {
      try {
        result = detail::finish_op(s.op, s.stats, worker.backend().name(), worker.engine_note());
      } catch (...) {
        error = std::current_exception();
      }
    }
    // Before anyone hears the op is done: no descriptor outlives it, and a failed replacement
    // leaves no temporary file behind.
    s.op.file.close();
    if (error) s.op.temp = detail::TempFile{};
    {
      std::lock_guard lock(s.mutex);
      // Moved, not copied: the error's last reference must be the caller's (see result_of).
      s.error = std::move(error);
      s.result = std::move(result);
      s.done = true;
    }
    s.cv.notify_all();
  }

  std::shared_ptr<OpState> start(bool write, const std::byte* buf, std::size_t length, const std::string& path,
                                 std::uint64_t offset, bool validate, Device* device = nullptr) {
    auto state = std::make_shared<OpState>(detail::prepare_op(config, write, buf, length, path, offset, validate, device));
    if (state->op.slices.empty()) {  // nothing to move: finish here
      OpResult r;
      std::vector<detail::SliceStats> stats;
      try {
        r = detail::finish_op(state->op, stats, engine, engine_note);
      } catch (...) {
        state->error = std::current_exception();
      }
      state->result = std::move(r);
      state->op.file.close();
      if (state->error) state->op.temp = detail::TempFile{};
      state->done = true;
      return state;
    }
    std::size_t queued = 0;
    try {
      for (; queued < state->op.slices.size(); ++queued) {
        WorkerThread& w = *workers[queued % workers.size()];
        {
          std::lock_guard lock(w.mutex);
          w.tasks.push_back(Task{state, queued});
        }
        w.cv.notify_one();
      }
    } catch (...) {
      // Out of memory part-way: the queued slices still use the caller's buffer, so stop them
      // and wait for them before the error reaches the caller.
      state->cancel.store(true);
      bool wait_for_workers = false;
      {
        std::lock_guard lock(state->mutex);
        state->remaining -= state->op.slices.size() - queued;
        // The queued slices may all have finished already: then nobody else will mark it done.
        if (state->remaining == 0) state->done = true;
        wait_for_workers = !state->done;
      }
      if (wait_for_workers) state->wait_done();
      throw;
    }
    return state;
  }

  OpId track(std::shared_ptr<OpState> s) {
    const OpId id = next_id.fetch_add(1);
    std::lock_guard lock(pending_mutex);
    pending.emplace_back(id, std::move(s));
    return id;
  }

  // The error is moved out of the op's state, so that the exception object dies in the caller's
  // thread whichever thread drops the state last (a worker may still hold it for a moment).
  static OpResult result_of(OpState& s) {
    s.wait_done();
    if (s.error) {
      const std::exception_ptr error = std::move(s.error);
      std::rethrow_exception(error);
    }
    return std::move(s.result);
  }
};

Handle::Handle(const Config& config) : impl_(std::make_unique<Impl>(config)) {}

Handle::~Handle() {
  // Ops still pending must finish before their buffers and the workers go away.
  try {
    (void)wait();
  } catch (...) {
    std::fprintf(stderr, "swapio: Handle destroyed while waiting for its ops failed\n");
  }
}

OpResult Handle::pread(std::span<std::byte> buffer, const std::string& path, std::uint64_t offset, bool validate) {
  return Impl::result_of(*impl_->start(false, buffer.data(), buffer.size(), path, offset, validate));
}

OpResult Handle::pwrite(std::span<const std::byte> buffer, const std::string& path, std::uint64_t offset,
                        bool validate) {
  return Impl::result_of(*impl_->start(true, buffer.data(), buffer.size(), path, offset, validate));
}

Handle::OpId Handle::async_pread(std::span<std::byte> buffer, const std::string& path, std::uint64_t offset,
                                 bool validate) {
  return impl_->track(impl_->start(false, buffer.data(), buffer.size(), path, offset, validate));
}

Handle::OpId Handle::async_pwrite(std::span<const std::byte> buffer, const std::string& path, std::uint64_t offset,
                                  bool validate) {
  return impl_->track(impl_->start(true, buffer.data(), buffer.size(), path, offset, validate));
}

OpResult Handle::pread(DeviceSpan buffer, const std::string& path, std::uint64_t offset, bool validate) {
  return Impl::result_of(*impl_->start(false, buffer.data, buffer.size, path, offset, validate, detail::device_of(buffer)));
}

OpResult Handle::pwrite(DeviceSpan buffer, const std::string& path, std::uint64_t offset, bool validate) {
  return Impl::result_of(*impl_->start(true, buffer.data, buffer.size, path, offset, validate, detail::device_of(buffer)));
}

Handle::OpId Handle::async_pread(DeviceSpan buffer, const std::string& path, std::uint64_t offset, bool validate) {
  return impl_->track(impl_->start(false, buffer.data, buffer.size, path, offset, validate, detail::device_of(buffer)));
}

Handle::OpId Handle::async_pwrite(DeviceSpan buffer, const std::string& path, std::uint64_t offset, bool validate) {
  return impl_->track(impl_->start(true, buffer.data, buffer.size, path, offset, validate, detail::device_of(buffer)));
}

WaitResult Handle::wait() {
  // Wait for everything pending now, without taking it out of the list: a concurrent caller of
  // wait() must also see these ops until they are done. Then claim whatever is still unclaimed.
  std::vector<std::pair<OpId, std::shared_ptr<OpState>>> ops;
  {
    std::lock_guard lock(impl_->pending_mutex);
    ops = impl_->pending;
  }
  for (auto& op : ops) op.second->wait_done();
  std::vector<std::shared_ptr<OpState>> mine;
  {
    std::lock_guard lock(impl_->pending_mutex);
    auto& pending = impl_->pending;
    for (const auto& op : ops) {
      const OpId id = op.first;  // a name of its own: lambdas cannot capture structured bindings in clang 14
      auto it = std::find_if(pending.begin(), pending.end(), [id](const auto& p) { return p.first == id; });
      if (it == pending.end()) continue;  // reported by another wait()
      mine.push_back(std::move(it->second));
      pending.erase(it);
    }
  }
  WaitResult w;
  for (auto& s : mine) {
    ++w.completed;
    if (s->error) {
      std::exception_ptr error = std::move(s->error);  // dies in this thread (see result_of)
      if (!w.first_error) {
        w.first_error = std::move(error);
        try {
          std::rethrow_exception(w.first_error);
        } catch (const std::exception& e) {
          w.first_error_message = e.what();
        } catch (...) {
          w.first_error_message = "unknown error";
        }
      }
      continue;
    }
    w.results.push_back(std::move(s->result));
  }
  return w;
}

OpResult Handle::wait(OpId id) {
  std::shared_ptr<OpState> s;
  {
    std::lock_guard lock(impl_->pending_mutex);
    auto& pending = impl_->pending;
    auto it = std::find_if(pending.begin(), pending.end(), [&](const auto& p) { return p.first == id; });
    if (it == pending.end()) {
      throw std::invalid_argument("op " + std::to_string(id) + " is not pending in this handle (unknown or already reported)");
    }
    s = std::move(it->second);
    pending.erase(it);
  }
  return Impl::result_of(*s);
}

const Config& Handle::config() const noexcept { return impl_->config; }
const std::string& Handle::engine() const noexcept { return impl_->engine; }
const std::string& Handle::engine_note() const noexcept { return impl_->engine_note; }

}  // namespace swapio
