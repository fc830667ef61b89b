#include "swapio/basic.hpp"

#include <exception>
#include <memory>
#include <thread>
#include <vector>

#include "swapio/detail/op.hpp"

namespace swapio {
namespace {

// The basic API's executor: everything set up per call. One slice runs on the caller's thread;
// more run on threads of this call only, each with its own ring, joined before the call returns.
class CallThreads final : public detail::SliceExecutor {
 public:
  explicit CallThreads(const Config& config) : config_(config) {}

  void start(const std::shared_ptr<detail::OpRun>& op, std::size_t slice) override {
    if (op->slices() == 1) {
      detail::SliceRunner runner(config_);  // a runner that cannot start throws to the caller
      op->run_slice(slice, runner);
      return;
    }
    threads_.emplace_back([this, op, slice] {
      std::exception_ptr failed;
      try {
        detail::SliceRunner runner(config_);
        op->run_slice(slice, runner);
      } catch (...) {
        failed = std::current_exception();
      }
      // Outside the handler, so that this thread holds no reference to the exception once the
      // op has it.
      if (failed) op->fail_slice(std::move(failed));
    });
  }

  std::pair<std::string, std::string> engine() override {
    const detail::SliceRunner runner(config_);
    return {runner.backend().name(), runner.engine_note()};
  }

  void join() { threads_.clear(); }

 private:
  const Config& config_;
  std::vector<std::jthread> threads_;
};

}  // namespace

OpResult transfer(Direction direction, TensorSpan tensor, const std::string& path, const Config& config,
                  std::uint64_t offset, bool validate) {
  config.validate();
  auto op = std::make_shared<detail::OpRun>(detail::prepare_op(config, direction, tensor, path, offset, validate));
  CallThreads threads(config);
  detail::run_slices(op, threads);
  threads.join();
  return op->result();
}

}  // namespace swapio
