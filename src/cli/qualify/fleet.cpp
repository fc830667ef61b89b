// The fleet report (fleet.hpp): the nodes' reports read into one grid, each workload's fleet
// median and outliers judged, every node's verdict; and `swapio fleet-report`, from files.
#include "qualify/fleet.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>

#include "bench/bench_options.hpp"
#include "common/facts.hpp"
#include "common/report_text.hpp"
#include "qualify/fleet_grid.hpp"
#include "qualify/fleet_report_checks.hpp"
#include "qualify/floors.hpp"
#include "swapio/error.hpp"

namespace swapio::cli {
namespace {

constexpr double kMadScale = 1.4826;  // MAD to a standard deviation, for normal data

using nlohmann::json;

// The names of a report's workloads, in order.
std::vector<std::string> workload_names(const json& report) {
  std::vector<std::string> names;
  for (const auto& w : report["workloads"]) names.push_back(w.value("name", ""));
  return names;
}

// A workload that did not run to its end through no fault of the node: not run yet (a partial
// fleet report), or cut short or never started by an interrupt (floors.hpp's "interrupted by
// ..." and "not run: ...").
bool unfinished(const std::string& error) { return error.starts_with("not run") || error.starts_with("interrupted by "); }

FleetRule rule_of(const json& report) {
  FleetRule rule;
  if (report.contains("fleet_rule") && report["fleet_rule"].is_object()) {
    rule.fraction = report["fleet_rule"].value("outlier_fraction", rule.fraction);
    rule.mads = report["fleet_rule"].value("outlier_mads", rule.mads);
  }
  return rule;
}

// Like with like: one profile, the same workloads and outlier rule, each node once. Returns the
// first node with a report (nullptr: none has one).
const FleetNode* check_fleet(const std::vector<FleetNode>& nodes) {
  if (nodes.empty()) throw ConfigError("fleet report: no node reports");
  const FleetNode* first = nullptr;
  std::map<std::string, std::string> seen;
  for (const FleetNode& n : nodes) {
    const auto [it, fresh] = seen.emplace(n.node, n.origin);
    if (!fresh) throw ConfigError("fleet report: node " + n.node + " appears twice (" + it->second + " and " + n.origin + ")");
    if (n.report.is_null()) continue;
    if (!n.report.contains("profile") || !n.report["profile"].is_string() || !n.report.contains("workloads") ||
        !n.report["workloads"].is_array()) {
      throw ConfigError("fleet report: " + n.origin + " is not a swapio qualify report (no profile and workloads)");
    }
    if (first == nullptr) {
      first = &n;
      continue;
    }
    if (n.report["profile"] != first->report["profile"]) {
      throw ConfigError("fleet report: " + n.origin + " ran profile " + n.report["profile"].get<std::string>() + ", " +
                        first->origin + " profile " + first->report["profile"].get<std::string>() +
                        ": a fleet compares like with like");
    }
    if (workload_names(n.report) != workload_names(first->report)) {
      throw ConfigError("fleet report: " + n.origin + " and " + first->origin + " ran different workloads of profile " +
                        n.report["profile"].get<std::string>());
    }
    // One rule for all, whichever report comes first.
    const FleetRule a = rule_of(first->report), b = rule_of(n.report);
    if (a.fraction != b.fraction || a.mads != b.mads) {
      throw ConfigError("fleet report: " + first->origin + " and " + n.origin +
                        " differ in fleet_rule (the outlier rule): a fleet compares like with like");
    }
  }
  return first;
}

FleetCell read_cell(const FleetNode& n, std::size_t k) {
  FleetCell c;
  if (n.report.is_null() || k >= n.report["workloads"].size()) {
    c.error = n.error.empty() ? "not run" : n.error;
    c.pending = n.error.empty();
    return c;
  }
  const json& w = n.report["workloads"][k];
  if (w.contains("error") && w["error"].is_string()) {
    c.error = w["error"];
    c.pending = unfinished(c.error);
    return c;
  }
  const json* swapio = w.contains("programs") && w["programs"].contains("swapio") ? &w["programs"]["swapio"] : nullptr;
  if (swapio == nullptr || !swapio->contains("median_gib_per_s") || !(*swapio)["median_gib_per_s"].is_number()) {
    c.error = "no swapio figure";
    return c;
  }
  c.measured = true;
  c.gib_per_s = (*swapio)["median_gib_per_s"];
  c.floors = w.value("pass", false);
  return c;
}

// Per workload: the median over the nodes that measured it, the MAD, and the outliers.
json judge_outliers(FleetGrid& g, const std::vector<FleetNode>& nodes) {
  json jw = json::array();
  g.medians.assign(g.workloads.size(), std::nullopt);
  for (std::size_t k = 0; k < g.workloads.size(); ++k) {
    std::vector<double> v;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (g.cells[i][k].measured) v.push_back(g.cells[i][k].gib_per_s);
    }
    const double med = median(v);
    std::vector<double> dev;
    for (double x : v) dev.push_back(std::fabs(x - med));
    const double mad = median(dev);
    json outliers = json::array();
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      FleetCell& c = g.cells[i][k];
      if (!c.measured) continue;
      c.below = med > 0 ? (med - c.gib_per_s) / med : 0;
      const bool far = c.gib_per_s < med * (1 - g.rule.fraction);
      const bool spread = mad == 0 || med - c.gib_per_s > g.rule.mads * kMadScale * mad;
      c.outlier = v.size() >= 3 && far && spread;
      if (c.outlier) outliers.push_back(nodes[i].node);
    }
    // Figures nobody measured are null, not 0.
    const auto figure = [&](double x) { return v.empty() ? json() : json(x); };
    if (!v.empty()) g.medians[k] = med;
    jw.push_back({{"name", g.workloads[k]},
                  {"nodes_measured", v.size()},
                  {"median_gib_per_s", figure(med)},
                  {"mad_gib_per_s", figure(mad)},
                  {"min_gib_per_s", figure(v.empty() ? 0.0 : *std::min_element(v.begin(), v.end()))},
                  {"max_gib_per_s", figure(v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()))},
                  {"outliers_judged", v.size() >= 3},
                  {"outliers", outliers}});
  }
  return jw;
}

FleetVerdict node_verdict(const FleetNode& n, const std::vector<FleetCell>& cells) {
  if (!n.error.empty()) return FleetVerdict::fail;
  bool pending = n.report.is_null();
  for (const FleetCell& c : cells) {
    if (c.measured ? !c.floors || c.outlier : !c.pending) return FleetVerdict::fail;
    pending = pending || c.pending;
  }
  return pending ? FleetVerdict::incomplete : FleetVerdict::pass;
}

// The nodes' entries of the JSON report.
json nodes_json(const FleetGrid& g, const std::vector<FleetNode>& nodes) {
  json jn = json::array();
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    json per = json::array();
    for (std::size_t k = 0; k < g.workloads.size(); ++k) {
      const FleetCell& c = g.cells[i][k];
      per.push_back({{"name", g.workloads[k]},
                     {"gib_per_s", c.measured ? json(c.gib_per_s) : json()},
                     {"floors_met", c.measured ? json(c.floors) : json()},
                     {"outlier", c.outlier},
                     {"below_median", c.measured ? json(c.below) : json()},
                     {"error", c.error.empty() ? json() : json(c.error)}});
    }
    jn.push_back({{"node", nodes[i].node},
                  {"origin", nodes[i].origin},
                  {"verdict", to_string(g.verdicts[i])},
                  {"error", nodes[i].error.empty() ? json() : json(nodes[i].error)},
                  {"workloads", per},
                  {"report", nodes[i].report}});
  }
  return jn;
}

// The grid of the reports: every node's cells, the outliers judged (the workloads' entries of
// the JSON report in workloads_json), every node's verdict and the fleet's.
FleetGrid grid_of(const std::vector<FleetNode>& nodes, json& workloads_json) {
  FleetGrid g;
  if (const FleetNode* first = check_fleet(nodes); first != nullptr) {
    g.profile = first->report["profile"];
    g.workloads = workload_names(first->report);
    g.rule = rule_of(first->report);
  }
  g.cells.assign(nodes.size(), std::vector<FleetCell>(g.workloads.size()));
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    for (std::size_t k = 0; k < g.workloads.size(); ++k) g.cells[i][k] = read_cell(nodes[i], k);
  }
  workloads_json = judge_outliers(g, nodes);
  bool failing = false;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    g.verdicts.push_back(node_verdict(nodes[i], g.cells[i]));
    g.passing += g.verdicts[i] == FleetVerdict::pass ? 1 : 0;
    g.incomplete += g.verdicts[i] == FleetVerdict::incomplete ? 1 : 0;
    failing = failing || g.verdicts[i] == FleetVerdict::fail;
  }
  g.verdict = failing ? FleetVerdict::fail : g.incomplete > 0 ? FleetVerdict::incomplete : FleetVerdict::pass;
  return g;
}

json fleet_json(const FleetGrid& g, const json& workloads_json, const std::vector<FleetNode>& nodes) {
  return {{"swapio_fleet", 1},
          {"schema_version", kReportSchemaVersion},
          {"profile", g.profile},
          {"rule", {{"outlier_fraction", g.rule.fraction}, {"outlier_mads", g.rule.mads}}},
          {"verdict", to_string(g.verdict)},
          {"nodes_passing", g.passing},
          {"nodes_incomplete", g.incomplete},
          {"node_count", nodes.size()},
          {"workloads", workloads_json},
          {"nodes", nodes_json(g, nodes)}};
}

}  // namespace

std::string fleet_node_name() {
  if (const char* e = std::getenv("SWAPIO_FLEET_HOST"); e != nullptr && *e != '\0') return e;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) return "unknown";
  return host;
}

std::string node_name(const nlohmann::json& report) {
  if (report.contains("node") && report["node"].is_string()) return report["node"];
  if (report.contains("facts") && report["facts"].contains("host") && report["facts"]["host"].is_string()) {
    return report["facts"]["host"];
  }
  return "";
}

FleetReport fleet_report(const std::vector<FleetNode>& nodes) {
  json workloads_json;
  const FleetGrid g = grid_of(nodes, workloads_json);
  FleetReport out;
  out.pass = g.verdict == FleetVerdict::pass;
  out.json = fleet_json(g, workloads_json, nodes);
  out.text = fleet_screen(g, nodes);
  out.junit = fleet_junit(g, nodes);
  return out;
}

void add_fleet_report_options(CLI::App& app, FleetReportOptions& o) {
  app.add_option("reports", o.reports, "the nodes' qualify --json reports")->required();
  app.add_option("--json", o.json, "write the fleet report as JSON here");
  app.add_option("--junit", o.junit, "write a JUnit XML file here (one testsuite per node)");
}

int run_fleet_report(const FleetReportOptions& o) {
  if (o.reports.empty()) throw ConfigError("fleet-report: give the qualify reports (swapio qualify --json FILE, one per node)");
  std::vector<FleetNode> nodes;
  for (const std::string& path : o.reports) {
    FleetNode n;
    n.report = read_qualify_report(path);
    n.node = node_name(n.report);
    n.origin = path;
    nodes.push_back(std::move(n));
  }
  check_like_with_like(nodes);
  if (!o.json.empty()) check_writable_file_folder("--json " + o.json, o.json);
  if (!o.junit.empty()) check_writable_file_folder("--junit " + o.junit, o.junit);
  const FleetReport r = fleet_report(nodes);
  std::fputs(r.text.c_str(), stdout);
  if (!o.json.empty()) write_report(o.json, r.json.dump(2) + "\n");
  if (!o.junit.empty()) write_report(o.junit, r.junit);
  return r.pass ? 0 : 1;
}

}  // namespace swapio::cli
