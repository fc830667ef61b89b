// The fleet report's table as fleet.cpp judges it (nodes x workloads: each node's figure, its
// floors, whether it is an outlier), and its two renderings for people and CI (fleet_text.cpp).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "qualify/fleet.hpp"

namespace swapio::cli {

// A node's workload.
struct FleetCell {
  bool measured = false;
  double gib_per_s = 0;
  bool floors = false;   // the node's own floors held
  bool outlier = false;
  double below = 0;      // fraction below the fleet median (negative: above)
  bool pending = false;  // not measured, and not failed either (unfinished)
  std::string error;     // the workload failed on the node, or did not run
};

// A node, and the fleet: PASS, FAIL (a floor missed, an outlier, a failure), or INCOMPLETE
// (nothing failed, but not everything was measured: a report written before the end).
enum class FleetVerdict { pass, incomplete, fail };

inline const char* to_string(FleetVerdict v) {
  return v == FleetVerdict::pass ? "PASS" : v == FleetVerdict::fail ? "FAIL" : "INCOMPLETE";
}

// The fleet as a table: nodes x workloads, and per workload its figures over the nodes.
struct FleetGrid {
  std::string profile = "?";
  std::vector<std::string> workloads;
  FleetRule rule;
  std::vector<std::vector<FleetCell>> cells;   // [node][workload]
  std::vector<std::optional<double>> medians;  // unset: no node measured the workload
  std::vector<FleetVerdict> verdicts;          // per node
  std::size_t passing = 0, incomplete = 0;
  FleetVerdict verdict = FleetVerdict::pass;
};

// The screen: the rule, the table, the outliers, the failures and the verdict.
std::string fleet_screen(const FleetGrid& g, const std::vector<FleetNode>& nodes);
// JUnit: a testsuite per node, a test case per workload (skipped where it was not measured and
// did not fail).
std::string fleet_junit(const FleetGrid& g, const std::vector<FleetNode>& nodes);

}  // namespace swapio::cli
