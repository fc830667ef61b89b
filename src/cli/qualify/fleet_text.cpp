// The fleet report for people (one screen: the rule, the table, outliers, failures, verdict)
// and for CI (JUnit XML).
#include <algorithm>
#include <sstream>

#include "common/report_text.hpp"
#include "qualify/fleet_grid.hpp"

namespace swapio::cli {
namespace {

constexpr std::size_t kFullTableNodes = 40;

std::string pad(std::string s, std::size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s;
}

std::string cell_text(const FleetCell& c) {
  if (!c.measured) return c.pending ? "- INCOMPLETE" : "- ERROR";
  if (c.outlier) return fmt("%.2f ", c.gib_per_s) + "OUTLIER " + fmt("-%.0f%%", c.below * 100);
  return fmt("%.2f ", c.gib_per_s) + (c.floors ? "PASS" : "FAIL");
}

// The first line: the profile, the fleet's size and the outlier rule.
std::string rule_line(const FleetGrid& g, const std::vector<FleetNode>& nodes) {
  std::ostringstream t;
  t << "swapio fleet: profile " << g.profile << ", " << nodes.size() << " node" << (nodes.size() == 1 ? "" : "s")
    << " (outlier: more than " << fmt("%.0f%%", g.rule.fraction * 100) << " and " << fmt("%.1f", g.rule.mads)
    << " MADs below the fleet median, judged with 3 nodes or more)\n";
  return t.str();
}

// The table: every node up to 40 of them, past that the nodes that do not pass; then the medians.
std::string table_text(const FleetGrid& g, const std::vector<FleetNode>& nodes) {
  std::ostringstream t;
  std::size_t width = 14;
  for (const FleetNode& n : nodes) width = std::max(width, n.node.size() + 2);
  const auto column = [&](std::size_t k) { return std::max<std::size_t>(24, g.workloads[k].size() + 2); };
  t << pad("node", width);
  for (std::size_t k = 0; k < g.workloads.size(); ++k) t << pad(g.workloads[k], column(k));
  t << "verdict\n";
  const bool full = nodes.size() <= kFullTableNodes;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (!full && g.verdicts[i] == FleetVerdict::pass) continue;
    t << pad(nodes[i].node, width);
    for (std::size_t k = 0; k < g.workloads.size(); ++k) t << pad(cell_text(g.cells[i][k]), column(k));
    t << to_string(g.verdicts[i]) << "\n";
  }
  if (!full) t << "(" << g.passing << " passing nodes not shown: see --json)\n";
  t << pad("fleet median", width);
  for (std::size_t k = 0; k < g.workloads.size(); ++k) {
    t << pad(g.medians[k] ? fmt("%.2f", *g.medians[k]) : std::string("-"), column(k));
  }
  t << "\n";
  return t.str();
}

// A line per outlier: the node, the workload, how far below the median.
std::string outliers_text(const FleetGrid& g, const std::vector<FleetNode>& nodes) {
  std::string outliers;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    for (std::size_t k = 0; k < g.workloads.size(); ++k) {
      const FleetCell& c = g.cells[i][k];
      if (c.outlier) {
        outliers += "  " + nodes[i].node + ": " + g.workloads[k] + " " + fmt("%.2f GiB/s", c.gib_per_s) + ", " +
                    fmt("%.0f%%", c.below * 100) + " below the fleet median " + fmt("%.2f", g.medians[k].value_or(0)) + "\n";
      }
    }
  }
  return outliers;
}

// A line per node that failed as a whole, else per workload that failed on it.
std::string failed_text(const FleetGrid& g, const std::vector<FleetNode>& nodes) {
  std::string failed;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (!nodes[i].error.empty()) {
      failed += "  " + nodes[i].node + " (" + nodes[i].origin + "): " + nodes[i].error + "\n";
      continue;
    }
    for (std::size_t k = 0; k < g.workloads.size(); ++k) {
      const FleetCell& c = g.cells[i][k];
      if (c.error.empty() || c.pending) continue;
      failed += "  " + nodes[i].node + " (" + nodes[i].origin + "): " + g.workloads[k] + ": " + c.error + "\n";
    }
  }
  return failed;
}

// A node's testsuite: a test case per workload.
std::string node_suite(const FleetGrid& g, const FleetNode& node, const std::vector<FleetCell>& cells) {
  std::size_t failures = 0, errors = 0, skipped = 0;
  std::string cases;
  for (std::size_t k = 0; k < g.workloads.size(); ++k) {
    const FleetCell& c = cells[k];
    cases += "    <testcase classname=\"swapio.fleet." + xml_escape(node.node) + "\" name=\"" + xml_escape(g.workloads[k]) + "\">\n";
    const std::string why = node.error.empty() ? c.error : node.error;
    if (!c.measured && c.pending && node.error.empty()) {
      ++skipped;
      cases += "      <skipped message=\"" + xml_escape(why) + "\"/>\n";
    } else if (!c.measured) {
      ++errors;
      cases += "      <error message=\"" + xml_escape(why) + "\"/>\n";
    } else if (c.outlier) {
      ++failures;
      cases += "      <failure message=\"" +
               xml_escape(fmt("%.2f GiB/s", c.gib_per_s) + fmt(" is %.0f%%", c.below * 100) + " below the fleet median " +
                          fmt("%.2f GiB/s", g.medians[k].value_or(0))) + "\"/>\n";
    } else if (!c.floors) {
      ++failures;
      cases += "      <failure message=\"" + xml_escape(fmt("%.2f GiB/s", c.gib_per_s) + " misses a floor of the node's own") + "\"/>\n";
    }
    cases += "    </testcase>\n";
  }
  std::ostringstream x;
  x << "  <testsuite name=\"" << xml_escape(node.node) << "\" tests=\"" << g.workloads.size() << "\" failures=\""
    << failures << "\" errors=\"" << errors << "\" skipped=\"" << skipped << "\">\n" << cases << "  </testsuite>\n";
  return x.str();
}

}  // namespace

std::string fleet_screen(const FleetGrid& g, const std::vector<FleetNode>& nodes) {
  std::ostringstream t;
  t << rule_line(g, nodes) << "\n" << table_text(g, nodes);
  const std::string outliers = outliers_text(g, nodes), failed = failed_text(g, nodes);
  if (!outliers.empty()) t << "\noutliers:\n" << outliers;
  if (!failed.empty()) t << "\nfailed:\n" << failed;
  t << "\nverdict: " << to_string(g.verdict) << " (" << g.passing << " of " << nodes.size() << " nodes pass"
    << (g.incomplete > 0 ? ", " + std::to_string(g.incomplete) + " not measured to the end" : std::string()) << ")\n";
  return t.str();
}

std::string fleet_junit(const FleetGrid& g, const std::vector<FleetNode>& nodes) {
  std::ostringstream x;
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"swapio fleet " << xml_escape(g.profile) << "\">\n";
  for (std::size_t i = 0; i < nodes.size(); ++i) x << node_suite(g, nodes[i], g.cells[i]);
  x << "</testsuites>\n";
  return x.str();
}

}  // namespace swapio::cli
