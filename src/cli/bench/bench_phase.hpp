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

#include "bench/bench_options.hpp"
#include "bench/bench_phase_report.hpp"  // layout_warning, layout_line: the report's words for people
#include "common/subprocess.hpp"

namespace swapio::cli {

struct WorkerFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
  // The figures of the timed loops every worker finished before the failure (a phase report
  // with "complete": false), or null when none finished.
  nlohmann::json finished;
};

// Runs one phase: process i moves paths[i]. Returns its JSON report. Throws WorkerFailure
// naming the worker, or Interrupted (after catch_interrupts()).
nlohmann::json run_phase(const BenchOptions& o, bool write, const std::vector<std::string>& paths);

}  // namespace swapio::cli
