// A workload's verdict from its rounds: each program's medians, the best plain fio and ceiling
// engines, and each floor of the workload checked against them.
#pragma once

#include <vector>

#include "qualify/floors.hpp"
#include "qualify/floors_programs.hpp"

namespace swapio::cli {

// Fills res's programs (series[k] is programs[k]'s rounds), its references, its memory figure,
// its checks and pass; res.workload and res.error are as the rounds left them.
void judge_workload(WorkloadResult& res, const std::vector<FloorProgram>& programs, std::vector<Series> series);

}  // namespace swapio::cli
