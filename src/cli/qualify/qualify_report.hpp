// What `swapio qualify` reports of a run: the table of floors, its notes and the verdict on the
// screen, the JSON report (--json, and a fleet rank's report) and the JUnit XML file (--junit).
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "qualify/floors.hpp"
#include "qualify/profile.hpp"
#include "qualify/qualify.hpp"

namespace swapio::cli {

// Prints the table (a row per floor), the workloads' notes and the verdict line to out.
// Returns the verdict: every floor checked holds, and at least one was checked.
bool print_qualify_results(FILE* out, const std::vector<WorkloadResult>& results, double seconds);

// The JSON report. fio: fio's version ("" where it does not run).
nlohmann::json qualify_json(const QualifyOptions& o, const Profile& profile, const std::vector<WorkloadResult>& results,
                            bool pass, double seconds, const std::string& fio);

// One test case per floor.
std::string qualify_junit(const Profile& p, const std::vector<WorkloadResult>& results, double seconds);

}  // namespace swapio::cli
