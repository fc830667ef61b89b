// What swapio fleet-report takes from files: a node's `swapio qualify --json` report, checked
// field by field (type and range, a known schema version), and a set of them checked for like
// with like: every field that decides a figure (op, size, block size, queue depth, engine,
// direct, processes, the folders' count, the outlier rule) agrees, so that the fleet's median
// and its outliers compare one measurement with the same measurement elsewhere. Every refusal
// is a ConfigError (exit status 2) naming the file or files and the field.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "qualify/fleet.hpp"
#include "qualify/profile.hpp"

namespace swapio::cli {

// The report in the file at path, checked with check_qualify_report.
nlohmann::json read_qualify_report(const std::string& path);

// Throws ConfigError "PATH: workloads[1] (read-16m): size: expected ..." for a field of the
// wrong type or out of range, a missing one the fleet reads, and a schema version other than
// this build's.
void check_qualify_report(const nlohmann::json& report, const std::string& origin);

// Throws ConfigError naming both origins and the field where two reports differ in what
// decides a figure. Reports that are null (a node without one) are skipped.
void check_like_with_like(const std::vector<FleetNode>& nodes);

// qualify --fleet checks the same before anything runs: what decides each workload's figure
// (its op, size, processes and every knob), the outlier rule and the number of folders, as JSON
// every rank sends; first_difference names where two of them differ ("workloads[0].block_size:
// 1048576 and 8388608").
nlohmann::json like_fields(const Profile& profile, std::size_t folders);
std::string first_difference(const nlohmann::json& a, const nlohmann::json& b, const std::string& at = "");

}  // namespace swapio::cli
