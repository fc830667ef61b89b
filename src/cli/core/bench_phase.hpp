// One phase of `swapio bench` (the reads or the writes): the worker processes (this same binary,
// `swapio __worker`) started together, held behind barriers (after start, after setup, after
// each loop), their JSON-line reports gathered over pipes, and the phase's figures aggregated.
// A worker that fails, dies or stalls is named and the others are stopped; every process is
// waited for on every way out.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_options.hpp"

namespace swapio::cli {

struct WorkerFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Interrupted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// SIGINT and SIGTERM interrupt a phase (it stops its workers and throws Interrupted) instead of
// ending the process; SIGPIPE is ignored (a dead worker's pipe is reported).
void catch_bench_signals();
// The signal that interrupted the run, 0 while none did.
int bench_signal() noexcept;

// Runs one phase: process i moves paths[i]. Returns its JSON report. Throws WorkerFailure
// naming the worker, or Interrupted.
nlohmann::json run_phase(const BenchOptions& o, bool write, const std::vector<std::string>& paths);

}  // namespace swapio::cli
