// One phase of `swapio bench`: its workers through the barriers loop by loop, each loop's
// end-to-end time, and the report (partial when a worker fails after some loops).
#include "bench/bench_phase.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "bench/bench_phase_workers.hpp"

namespace swapio::cli {
namespace {

using Clock = std::chrono::steady_clock;

class Phase {
 public:
  Phase(const BenchOptions& o, bool write, std::vector<std::string> paths)
      : o_(o), write_(write), workers_(o, write, std::move(paths)) {}

  // Runs the phase; returns its JSON report. Throws WorkerFailure naming the worker.
  nlohmann::json run() {
    workers_.spawn_all();
    workers_.collect("started");
    workers_.release();
    workers_.collect("ready");
    for (WorkerProc& p : workers_.procs()) p.memory = p.last.value("memory", nlohmann::json());
    const unsigned total = o_.warmup_loops + o_.loops;
    std::vector<double> e2e;
    try {
      for (unsigned loop = 0; loop < total; ++loop) {
        progress(loop, total);
        const auto t0 = Clock::now();
        workers_.release();
        workers_.collect("loop");
        e2e.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      }
    } catch (WorkerFailure& e) {
      keep_finished_loops(e, e2e);
      throw;
    }
    progress(total, total);
    workers_.release();
    workers_.collect("done");
    workers_.reap_all();
    return phase_report(o_, write_, workers_, e2e);
  }

 private:
  // The loops every worker finished keep their figures.
  void keep_finished_loops(WorkerFailure& e, const std::vector<double>& e2e) const {
    if (e2e.size() <= o_.warmup_loops) return;
    try {
      e.finished = phase_report(o_, write_, workers_, e2e);
      e.finished["complete"] = false;
      e.finished["loops_finished"] = e2e.size() - o_.warmup_loops;
      e.finished["error"] = e.what();
    } catch (const std::exception&) {
      e.finished = nullptr;  // a worker's figures were incomplete: nothing to keep
    }
  }

  void progress(unsigned done, unsigned total) const {
    if (o_.json || total < 2 || !::isatty(STDERR_FILENO)) return;
    std::fprintf(stderr, "\r%s: loop %u/%u%s", write_ ? "write" : "read", done, total, done == total ? "\n" : "");
  }

  const BenchOptions& o_;
  bool write_;
  PhaseWorkers workers_;
};

}  // namespace

nlohmann::json run_phase(const BenchOptions& o, bool write, const std::vector<std::string>& paths) {
  Phase phase(o, write, paths);
  return phase.run();
}

}  // namespace swapio::cli
