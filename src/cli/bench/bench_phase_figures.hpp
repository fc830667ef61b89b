// A bench phase's figures summed over its worker processes and timed loops, from the events
// the workers sent.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "bench/bench_phase_workers.hpp"
#include "common/histogram.hpp"

namespace swapio::cli {

struct PhaseFigures {
  struct Loop {
    std::uint64_t bytes = 0;
    double task = 0;  // the slowest process's call
    double e2e = 0;
  };
  std::vector<Loop> loops;
  std::uint64_t bytes = 0, requests = 0, resubmits = 0;
  double task_latency = 0, e2e_latency = 0, cpu = 0, submit = 0, reap = 0;
  Histogram latency;
  bool validated = true, direct = true;
  std::set<std::string> engines, notes, checks;
  std::set<std::string> gds;  // device memory: "yes", "yes (cuFile compat mode: ...)" or "no: why"
};

// The figures of the timed loops (those after warmup_loops) of e2e, the loops' end-to-end
// seconds. Throws WorkerFailure when a worker sent no figures for one of them.
PhaseFigures aggregate_phase(const std::vector<WorkerProc>& procs, unsigned warmup_loops, const std::vector<double>& e2e);

// p's event for loop `loop`; throws WorkerFailure when it sent none.
const nlohmann::json& loop_event(const WorkerProc& p, unsigned loop);

}  // namespace swapio::cli
