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

// Worker processes of any verb: this binary run as `swapio VERB SPEC`, one spec each.
struct WorkerLaunch {
  std::string verb;                  // "__worker", "__step_worker"
  std::vector<std::string> specs;    // process i's spec (JSON text)
  std::vector<std::string> labels;   // what messages name process i by (its file, its rank)
  unsigned stall_timeout = 600;      // seconds without an event before a worker counts as stuck
  bool replaces_files = false;       // killed workers leave --atomic-replace temporaries of labels[i]
};

// A bench phase: process i moves paths[i]. Every process is killed and waited for on every way
// out; each call that waits on them throws WorkerFailure naming the worker, or Interrupted.
class PhaseWorkers {
 public:
  PhaseWorkers(const BenchOptions& o, bool write, std::vector<std::string> paths);
  explicit PhaseWorkers(WorkerLaunch launch) : launch_(std::move(launch)) {}
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
  const std::vector<std::string>& paths() const { return launch_.labels; }

 private:
  // Reads what the workers sent; returns whether any event arrived.
  bool pump();
  // Reads from p and takes its whole lines as events; returns whether any arrived.
  bool read_events(WorkerProc& p);
  [[noreturn]] void fail(WorkerProc& p, const std::string& message);
  void reap(WorkerProc& p);
  void kill_all() noexcept;

  WorkerLaunch launch_;
  std::vector<WorkerProc> procs_;
};

}  // namespace swapio::cli
