// `swapio bench`: the seed harness as a native multi-process command. The parent spawns worker
// processes (this same binary, `swapio __worker`), holds them behind barriers, gathers their
// figures over pipes (JSON lines), and reports.
#pragma once

#include <string>

#include "bench/bench_options.hpp"

namespace swapio::cli {

// Runs the read phase (when --read-file) then the write phase (when --write-file). Returns the
// exit status: 0 when everything ran (and validated), 1 when a worker failed.
int run_bench(const BenchOptions& opts);

// The worker side: spec is the JSON the parent passed; fd 3 reports, fd 4 releases barriers.
int worker_main(const std::string& spec);

}  // namespace swapio::cli
