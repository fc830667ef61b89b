// One operation from call to result, shared by the basic API and Handle: open and check the
// file, preallocate a write, split into slices (prepare_op); run the slices on an executor's
// threads (run_slices); and when the last slice ends, merge the figures, sync, validate and
// replace, close the file and report (the op's one ending, OpRun::complete).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "swapio/config.hpp"
#include "swapio/detail/gds.hpp"
#include "swapio/detail/give_back.hpp"
#include "swapio/detail/plan.hpp"
#include "swapio/detail/slice_runner.hpp"
#include "swapio/detail/slice_stats.hpp"
#include "swapio/detail/temp_file.hpp"
#include "swapio/file.hpp"
#include "swapio/result.hpp"
#include "swapio/tensor.hpp"

namespace swapio::detail {

struct PreparedOp {
  explicit PreparedOp(File f) : file(std::move(f)) {}

  File file;
  std::string target;  // where the result goes: the path, or a symbolic link's target when replacing
  TempFile temp;       // atomic_replace: the file being written, renamed over target at the end
  WriteClaim claim;    // a write in place: what it may give back when it fails
  bool sync = false;   // fdatasync before reporting success
  bool created = false;  // a write in place that created the file (sync: the folder too)
  Direction direction = Direction::read;
  TensorSpan tensor;   // host memory, or device memory of tensor.device()
  // Device memory: recorded on the caller's stream when the op was prepared; every slice's
  // copies start after it.
  std::shared_ptr<const Fence> fence;
  // Device memory: the file registered with cuFile when the body goes by GPUDirect Storage
  // (null: the staging ring), and why not or in which mode.
  std::shared_ptr<GdsFile> gds;
  std::string gds_note;
  std::uint64_t offset = 0;
  bool validate = false;
  bool preallocated = false;
  std::vector<Slice> slices;
  std::chrono::steady_clock::time_point started;

  std::uint64_t length() const noexcept { return tensor.size(); }
  std::byte* slice_memory(std::size_t i) const noexcept { return tensor.data() + (slices[i].offset - offset); }
};

// Checks the arguments, opens the file, checks a read's range against its size, preallocates a
// write's range, and splits it into up to config.intra_op_parallelism slices. The config must
// have passed Config::validate (once per op or per Handle). Throws ConfigError or swapio::Error.
PreparedOp prepare_op(const Config& config, Direction direction, TensorSpan tensor, const std::string& path,
                      std::uint64_t offset, bool validate);

// One op in flight: its slices run on some executor's threads; the last one to end completes the
// op and wakes whoever waits.
class OpRun {
 public:
  explicit OpRun(PreparedOp op);

  const PreparedOp& op() const noexcept { return op_; }
  std::size_t slices() const noexcept { return op_.slices.size(); }
  // Runs slice i on runner. Never throws: its error becomes the op's (the first one wins and
  // stops the other slices).
  void run_slice(std::size_t i, SliceRunner& runner) noexcept;
  // Slice i could not run at all (its runner could not start): the op fails with error.
  void fail_slice(std::exception_ptr error) noexcept;
  // Slices that will never start (the executor could not take them): the op fails with error.
  void abandon(std::size_t count, std::exception_ptr error) noexcept;
  // An op with no slices: completes here.
  void complete_empty(const std::string& engine, const std::string& engine_note) noexcept;

  void wait() noexcept;
  // Has callback run once when the op has ended: at once, in this thread, if it has; else on the
  // thread that ends it, after its waiters are woken. The callback must neither throw nor block.
  void on_finish(std::function<void()> callback);
  // Whether the op has ended (successfully or not): wait() would return at once.
  bool finished() noexcept;
  // After wait(): the error (moved out, so that the exception object dies in the caller's thread
  // whichever thread drops the op last), or the result.
  std::exception_ptr take_error() noexcept;
  OpResult take_result() noexcept { return std::move(result_); }
  // wait(), then the result or the error rethrown.
  OpResult result();

 private:
  void fail(std::exception_ptr error) noexcept;
  // `last`: the runner of the slice that ended (null for slices that never ran).
  void end_slices(std::size_t count, const SliceRunner* last) noexcept;
  void complete(const SliceRunner* last, const std::string* engine, const std::string* engine_note) noexcept;

  PreparedOp op_;
  std::vector<SliceStats> stats_;
  std::atomic<bool> cancel_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
  std::size_t remaining_;
  bool done_ = false;
  std::vector<std::function<void()>> on_finish_;
  std::exception_ptr error_;
  OpResult result_;
};

// Where slices run: the basic API's threads for one call, or a Handle's pool.
class SliceExecutor {
 public:
  virtual ~SliceExecutor() = default;
  // Has slice i of op run (op->run_slice or op->fail_slice). Throws only when it cannot take it.
  virtual void start(const std::shared_ptr<OpRun>& op, std::size_t slice) = 0;
  // The engine its runners use, reported by an op with no slices.
  virtual std::pair<std::string, std::string> engine() = 0;
};

// Starts every slice of op on executor; an op with no slices completes at once. When a slice
// cannot be started, the op fails, the slices already started are waited for, and the error is
// rethrown.
void run_slices(const std::shared_ptr<OpRun>& op, SliceExecutor& executor);

}  // namespace swapio::detail
