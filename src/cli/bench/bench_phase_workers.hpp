// The worker processes of one bench phase: started together, held behind barriers, their
// JSON-line events gathered over pipes; one that fails, dies or stalls is named and all are stopped.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/bench_options.hpp"
#include "common/subprocess.hpp"
#include "swapio/file.hpp"

namespace swapio::cli {

// One worker process of a phase.
struct WorkerProc {
  unsigned index = 0;
  pid_t pid = -1;          // for messages, also after it was reaped
  Child child;
  FileDescriptor report;   // worker -> parent, JSON lines
  FileDescriptor control;  // parent -> worker, one byte per barrier
  std::string partial;
  nlohmann::json last;                // the latest event
  bool fresh = false;                 // `last` not consumed by a barrier yet
  std::vector<nlohmann::json> loops;  // loop events, by loop index
  nlohmann::json memory;              // the "ready" event's layout of the I/O memory
  bool eof = false;
};

// Process i moves paths[i]. Every process is killed and waited for on every way out; each call
// that waits on them throws WorkerFailure naming the worker, or Interrupted.
class PhaseWorkers {
 public:
  PhaseWorkers(const BenchOptions& o, bool write, std::vector<std::string> paths)
      : o_(o), write_(write), paths_(std::move(paths)) {}
  PhaseWorkers(const PhaseWorkers&) = delete;
  PhaseWorkers& operator=(const PhaseWorkers&) = delete;
  ~PhaseWorkers() { kill_all(); }

  // Starts one worker per --threads.
  void spawn_all();
  // Waits until every worker has sent an event named `name` (held in WorkerProc::last).
  void collect(const std::string& name);
  // Opens the barrier every worker waits at.
  void release();
  // After "done": every worker must exit cleanly, soon.
  void reap_all();

  std::vector<WorkerProc>& procs() { return procs_; }
  const std::vector<WorkerProc>& procs() const { return procs_; }
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  // Reads what the workers sent; returns whether any event arrived.
  bool pump();
  // Reads from p and takes its whole lines as events; returns whether any arrived.
  bool read_events(WorkerProc& p);
  [[noreturn]] void fail(WorkerProc& p, const std::string& message);
  void reap(WorkerProc& p);
  void kill_all() noexcept;

  const BenchOptions& o_;
  bool write_;
  std::vector<std::string> paths_;
  std::vector<WorkerProc> procs_;
};

}  // namespace swapio::cli
