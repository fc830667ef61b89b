#include "swapio/handle.hpp"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "swapio/detail/op.hpp"
#include "swapio/error.hpp"

namespace swapio {

// The pool: intra_op_parallelism threads, each with its own SliceRunner (and ring), each with a
// queue of slices; slice i of an op goes to thread i mod n.
struct Handle::Impl final : detail::SliceExecutor {
  struct Task {
    std::shared_ptr<detail::OpRun> op;
    std::size_t slice = 0;
  };
  struct PoolThread {
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<Task> tasks;
    bool stop = false;
    std::thread thread;
  };

  // The threads and rings live in this process only: a child forked from it has the Handle's
  // memory but none of its threads.
  const pid_t owner = ::getpid();
  Config config;
  std::string engine_name;
  std::string engine_note;
  std::vector<std::unique_ptr<PoolThread>> threads;

  std::mutex pending_mutex;
  std::vector<std::pair<OpId, std::shared_ptr<detail::OpRun>>> pending;
  std::atomic<OpId> next_id{1};

  explicit Impl(const Config& c) : config(c) {
    config.validate();  // once per handle: every op runs with this config
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
        if (engine_name.empty()) {
          engine_name = name;
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

  ~Impl() override { stop_all(); }

  void launch(std::vector<std::future<std::pair<std::string, std::string>>>& started) {
    threads.reserve(config.intra_op_parallelism);
    for (unsigned i = 0; i < config.intra_op_parallelism; ++i) {
      auto t = std::make_unique<PoolThread>();
      std::promise<std::pair<std::string, std::string>> ready;
      started.push_back(ready.get_future());
      t->thread = std::thread([this, pt = t.get(), ready = std::move(ready)]() mutable {
        std::unique_ptr<detail::SliceRunner> runner;
        try {
          runner = std::make_unique<detail::SliceRunner>(config);  // its ring belongs to this thread
          ready.set_value({runner->backend().name(), runner->engine_note()});
        } catch (...) {
          ready.set_exception(std::current_exception());
          return;
        }
        serve(*pt, *runner);
      });
      threads.push_back(std::move(t));
    }
  }

  void stop_all() noexcept {
    for (auto& t : threads) {
      {
        std::lock_guard lock(t->mutex);
        t->stop = true;
      }
      t->cv.notify_one();
    }
    for (auto& t : threads) {
      if (t->thread.joinable()) t->thread.join();
    }
  }

  static void serve(PoolThread& pt, detail::SliceRunner& runner) {
    for (;;) {
      Task task;
      {
        std::unique_lock lock(pt.mutex);
        pt.cv.wait(lock, [&] { return pt.stop || !pt.tasks.empty(); });
        if (pt.tasks.empty()) return;  // stop, and nothing left to do
        task = std::move(pt.tasks.front());
        pt.tasks.pop_front();
      }
      task.op->run_slice(task.slice, runner);
    }
  }

  void start(const std::shared_ptr<detail::OpRun>& op, std::size_t slice) override {
    PoolThread& t = *threads[slice % threads.size()];
    {
      std::lock_guard lock(t.mutex);
      t.tasks.push_back(Task{op, slice});
    }
    t.cv.notify_one();
  }

  std::pair<std::string, std::string> engine() override { return {engine_name, engine_note}; }

  void check_owner() const {
    if (::getpid() != owner) {
      throw ConfigError("this Handle belongs to process " + std::to_string(owner) +
                        ", and its threads did not survive fork(); create a new one in the child");
    }
  }

  std::shared_ptr<detail::OpRun> begin(Direction direction, TensorSpan tensor, const std::string& path,
                                       std::uint64_t offset, bool validate) {
    check_owner();
    auto op = std::make_shared<detail::OpRun>(detail::prepare_op(config, direction, tensor, path, offset, validate));
    detail::run_slices(op, *this);
    return op;
  }

  // Pending op `id`, taken out of the list when `take`. Throws std::invalid_argument when none.
  std::shared_ptr<detail::OpRun> pending_op(OpId id, bool take) {
    std::lock_guard lock(pending_mutex);
    auto it = std::find_if(pending.begin(), pending.end(), [&](const auto& p) { return p.first == id; });
    if (it == pending.end()) {
      throw std::invalid_argument("op " + std::to_string(id) + " is not pending in this handle (unknown or already reported)");
    }
    if (!take) return it->second;
    std::shared_ptr<detail::OpRun> op = std::move(it->second);
    pending.erase(it);
    return op;
  }

  OpId track(std::shared_ptr<detail::OpRun> op) {
    const OpId id = next_id.fetch_add(1);
    std::lock_guard lock(pending_mutex);
    pending.emplace_back(id, std::move(op));
    return id;
  }
};

Handle::Handle(const Config& config) : impl_(std::make_unique<Impl>(config)) {}

Handle::~Handle() {
  if (::getpid() != impl_->owner) {
    // A forked child: the threads to join and the ops to wait for are the parent's, and its locks
    // may have been held at the fork. Left as they are, so that the child's exit neither hangs
    // nor crashes. Kept reachable, so that leak checkers do not report what was never the child's.
    static auto* abandoned = new std::vector<Impl*>;
    abandoned->push_back(impl_.release());
    return;
  }
  // Ops still pending must finish before their buffers and the threads go away.
  try {
    (void)wait();
  } catch (...) {
    std::fprintf(stderr, "swapio: Handle destroyed while waiting for its ops failed\n");
  }
}

OpResult Handle::transfer(Direction direction, TensorSpan tensor, const std::string& path, std::uint64_t offset,
                          bool validate) {
  return impl_->begin(direction, tensor, path, offset, validate)->result();
}

Handle::OpId Handle::async_transfer(Direction direction, TensorSpan tensor, const std::string& path,
                                    std::uint64_t offset, bool validate) {
  return impl_->track(impl_->begin(direction, tensor, path, offset, validate));
}

WaitResult Handle::wait() {
  impl_->check_owner();
  // Wait for everything pending now, without taking it out of the list: a concurrent caller of
  // wait() must also see these ops until they are done. Then claim whatever is still unclaimed.
  std::vector<std::pair<OpId, std::shared_ptr<detail::OpRun>>> ops;
  {
    std::lock_guard lock(impl_->pending_mutex);
    ops = impl_->pending;
  }
  for (auto& op : ops) op.second->wait();
  std::vector<std::shared_ptr<detail::OpRun>> mine;
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
  for (auto& op : mine) {
    ++w.completed;
    if (std::exception_ptr error = op->take_error()) {  // dies in this thread (see OpRun::take_error)
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
    w.results.push_back(op->take_result());
  }
  return w;
}

OpResult Handle::wait(OpId id) {
  impl_->check_owner();
  return impl_->pending_op(id, true)->result();
}

bool Handle::done(OpId id) const {
  impl_->check_owner();
  return impl_->pending_op(id, false)->finished();
}

void Handle::notify(OpId id, std::function<void()> callback) {
  impl_->check_owner();
  impl_->pending_op(id, false)->on_finish(std::move(callback));
}

const Config& Handle::config() const noexcept { return impl_->config; }
const std::string& Handle::engine() const noexcept { return impl_->engine_name; }
const std::string& Handle::engine_note() const noexcept { return impl_->engine_note; }

}  // namespace swapio
