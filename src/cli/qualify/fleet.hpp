// Fleet qualification's report: many nodes' qualify reports (gathered over MPI by `swapio
// qualify --fleet`, or read from files by `swapio fleet-report`) compared with each other, one
// code path for both. A node fails when it misses a floor of its own, when a workload failed on
// it, and when it is an outlier: below the fleet's median by more than the profile's rule (a
// fraction of the median and a number of median absolute deviations, both), which catches the
// node that passes its floors and is still far slower than its identical siblings.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace swapio::cli {

// A node is an outlier in a workload when it is below the median by more than `fraction` of
// it and by more than `mads` scaled median absolute deviations (1.4826 x MAD; a MAD of 0
// leaves the fraction alone). Judged with 3 nodes or more.
struct FleetRule {
  double fraction = 0.15;
  double mads = 3.5;
};

struct FleetNode {
  std::string node;       // its name in the fleet (a report's "node", else its facts' host)
  std::string origin;     // where it came from: a file, or "rank N"
  nlohmann::json report;  // its `swapio qualify --json` report; null when there is none
  std::string error;      // why it failed as a whole ("" when it did not)
};

struct FleetReport {
  nlohmann::json json;
  std::string text;   // one screen: the table (the failing nodes only, past 40 nodes), medians, outliers
  std::string junit;  // one testsuite per node, one test case per workload
  bool pass = false;  // the fleet's verdict is PASS
};

// This node's name in a fleet: $SWAPIO_FLEET_HOST when set (a launcher's node name, or a test's
// stand-in), else the host name.
std::string fleet_node_name();

// A node's name in a report: its "node", else its facts' host.
std::string node_name(const nlohmann::json& report);

// Throws ConfigError for no node, reports of different profiles, workloads or outlier rules (a
// fleet compares like with like), and a node named twice (naming both origins). A node's
// verdict is PASS, FAIL (a floor missed, an outlier, a failure), or INCOMPLETE: nothing failed
// but not every workload was measured (not run yet, or cut short by an interrupt); the fleet's
// is FAIL, else INCOMPLETE, else PASS. A figure no node measured is null in the JSON.
FleetReport fleet_report(const std::vector<FleetNode>& nodes);

// swapio fleet-report: the fleet report of qualify reports in files.
struct FleetReportOptions {
  std::vector<std::string> reports;
  std::string json, junit;
};
void add_fleet_report_options(CLI::App& app, FleetReportOptions& o);
// Returns 0 when every node passes, 1 otherwise; ConfigError (exit 2) for bad input: a file
// that is not a qualify report, a field of the wrong type or out of range, reports that differ
// in what decides a figure (fleet_report_checks.hpp).
int run_fleet_report(const FleetReportOptions& o);

}  // namespace swapio::cli
