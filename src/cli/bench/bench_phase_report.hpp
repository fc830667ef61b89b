// The JSON report of one bench phase, and its memory layout in words for people.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/bench_options.hpp"
#include "bench/bench_phase_workers.hpp"

namespace swapio::cli {

// I/O memory less contiguous than this (fraction in >= 2 MiB physical pieces) is warned about.
inline constexpr double kLowContiguity = 0.9;

// For a process's "memory" layout (the worker's report): a warning when it is low, else "".
std::string layout_warning(unsigned process, const nlohmann::json& memory);
// The phase's "memory_layout" in one line for people.
std::string layout_line(const nlohmann::json& layout);

// The phase's report from its workers' events and e2e, the end-to-end seconds of each loop
// (warm-ups first). Throws WorkerFailure when a worker sent no figures for a timed loop.
nlohmann::json phase_report(const BenchOptions& o, bool write, const PhaseWorkers& workers, const std::vector<double>& e2e);

}  // namespace swapio::cli
