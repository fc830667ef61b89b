#include "fleet.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "bench_options.hpp"
#include "facts.hpp"
#include "floors.hpp"
#include "report_text.hpp"
#include "swapio/error.hpp"

namespace swapio::cli {
namespace {

constexpr std::size_t kFullTableNodes = 40;
constexpr double kMadScale = 1.4826;  // MAD to a standard deviation, for normal data

// The names of a report's workloads, in order.
std::vector<std::string> workload_names(const nlohmann::json& report) {
  std::vector<std::string> names;
  for (const auto& w : report["workloads"]) names.push_back(w.value("name", ""));
  return names;
}

struct Cell {
  bool measured = false;
  double gib_per_s = 0;
  bool floors = false;   // the node's own floors held
  bool outlier = false;
  double below = 0;      // fraction below the fleet median (negative: above)
  std::string error;     // the workload failed on the node, or did not run
};

std::string pad(std::string s, std::size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s;
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
  if (nodes.empty()) throw ConfigError("fleet report: no node reports");
  // Like with like: one profile, the same workloads, each node once.
  const FleetNode* first = nullptr;
  std::map<std::string, std::string> seen;
  for (const FleetNode& n : nodes) {
    const auto [it, fresh] = seen.emplace(n.node, n.origin);
    if (!fresh) throw ConfigError("fleet report: node " + n.node + " appears twice (" + it->second + " and " + n.origin + ")");
    if (n.report.is_null()) continue;
    if (!n.report.contains("profile") || !n.report.contains("workloads") || !n.report["workloads"].is_array()) {
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
  }
  FleetRule rule;
  std::vector<std::string> workloads;
  std::string profile = "?";
  if (first != nullptr) {
    profile = first->report["profile"];
    workloads = workload_names(first->report);
    if (first->report.contains("fleet_rule")) {
      rule.fraction = first->report["fleet_rule"].value("outlier_fraction", rule.fraction);
      rule.mads = first->report["fleet_rule"].value("outlier_mads", rule.mads);
    }
  }

  // cells[node][workload]
  std::vector<std::vector<Cell>> cells(nodes.size(), std::vector<Cell>(workloads.size()));
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const FleetNode& n = nodes[i];
    for (std::size_t k = 0; k < workloads.size(); ++k) {
      Cell& c = cells[i][k];
      if (n.report.is_null() || k >= n.report["workloads"].size()) {
        c.error = n.error.empty() ? "not run" : n.error;
        continue;
      }
      const nlohmann::json& w = n.report["workloads"][k];
      if (w.contains("error") && w["error"].is_string()) {
        c.error = w["error"];
        continue;
      }
      const nlohmann::json* swapio = w.contains("programs") && w["programs"].contains("swapio") ? &w["programs"]["swapio"] : nullptr;
      if (swapio == nullptr || !(*swapio)["median_gib_per_s"].is_number()) {
        c.error = "no swapio figure";
        continue;
      }
      c.measured = true;
      c.gib_per_s = (*swapio)["median_gib_per_s"];
      c.floors = w.value("pass", false);
    }
  }

  nlohmann::json jw = nlohmann::json::array();
  std::vector<double> medians(workloads.size(), 0);
  for (std::size_t k = 0; k < workloads.size(); ++k) {
    std::vector<double> v;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (cells[i][k].measured) v.push_back(cells[i][k].gib_per_s);
    }
    const double med = median(v);
    std::vector<double> dev;
    for (double x : v) dev.push_back(std::fabs(x - med));
    const double mad = median(dev);
    medians[k] = med;
    nlohmann::json outliers = nlohmann::json::array();
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      Cell& c = cells[i][k];
      if (!c.measured) continue;
      c.below = med > 0 ? (med - c.gib_per_s) / med : 0;
      const bool far = c.gib_per_s < med * (1 - rule.fraction);
      const bool spread = mad == 0 || med - c.gib_per_s > rule.mads * kMadScale * mad;
      c.outlier = v.size() >= 3 && far && spread;
      if (c.outlier) outliers.push_back(nodes[i].node);
    }
    jw.push_back({{"name", workloads[k]},
                  {"nodes_measured", v.size()},
                  {"median_gib_per_s", med},
                  {"mad_gib_per_s", mad},
                  {"min_gib_per_s", v.empty() ? 0.0 : *std::min_element(v.begin(), v.end())},
                  {"max_gib_per_s", v.empty() ? 0.0 : *std::max_element(v.begin(), v.end())},
                  {"outliers_judged", v.size() >= 3},
                  {"outliers", outliers}});
  }

  FleetReport out;
  nlohmann::json jn = nlohmann::json::array();
  std::size_t passing = 0;
  std::vector<bool> node_pass(nodes.size(), true);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    bool ok = nodes[i].error.empty() && !nodes[i].report.is_null();
    nlohmann::json per = nlohmann::json::array();
    for (std::size_t k = 0; k < workloads.size(); ++k) {
      const Cell& c = cells[i][k];
      ok = ok && c.measured && c.floors && !c.outlier;
      per.push_back({{"name", workloads[k]},
                     {"gib_per_s", c.measured ? nlohmann::json(c.gib_per_s) : nlohmann::json()},
                     {"floors_met", c.measured ? nlohmann::json(c.floors) : nlohmann::json()},
                     {"outlier", c.outlier},
                     {"below_median", c.measured ? nlohmann::json(c.below) : nlohmann::json()},
                     {"error", c.error.empty() ? nlohmann::json() : nlohmann::json(c.error)}});
    }
    node_pass[i] = ok;
    passing += ok ? 1 : 0;
    jn.push_back({{"node", nodes[i].node},
                  {"origin", nodes[i].origin},
                  {"verdict", ok ? "PASS" : "FAIL"},
                  {"error", nodes[i].error.empty() ? nlohmann::json() : nlohmann::json(nodes[i].error)},
                  {"workloads", per},
                  {"report", nodes[i].report}});
  }
  out.pass = passing == nodes.size();
  out.json = {{"swapio_fleet", 1},
              {"schema_version", kReportSchemaVersion},
              {"profile", profile},
              {"rule", {{"outlier_fraction", rule.fraction}, {"outlier_mads", rule.mads}}},
              {"verdict", out.pass ? "PASS" : "FAIL"},
              {"nodes_passing", passing},
              {"node_count", nodes.size()},
              {"workloads", jw},
              {"nodes", jn}};

  // The screen.
  std::ostringstream t;
  t << "swapio fleet: profile " << profile << ", " << nodes.size() << " node" << (nodes.size() == 1 ? "" : "s")
    << " (outlier: more than " << fmt("%.0f%%", rule.fraction * 100) << " and " << fmt("%.1f", rule.mads)
    << " MADs below the fleet median, judged with 3 nodes or more)\n\n";
  std::size_t width = 14;
  for (const FleetNode& n : nodes) width = std::max(width, n.node.size() + 2);
  const std::size_t cell = 24;
  t << pad("node", width);
  for (const std::string& w : workloads) t << pad(w, std::max(cell, w.size() + 2));
  t << "verdict\n";
  const bool full = nodes.size() <= kFullTableNodes;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (!full && node_pass[i]) continue;
    t << pad(nodes[i].node, width);
    for (std::size_t k = 0; k < workloads.size(); ++k) {
      const Cell& c = cells[i][k];
      std::string s = c.measured ? fmt("%.2f ", c.gib_per_s) : std::string("- ");
      if (!c.measured) s += "ERROR";
      else if (c.outlier) s += "OUTLIER " + fmt("-%.0f%%", c.below * 100);
      else s += c.floors ? "PASS" : "FAIL";
      t << pad(s, std::max(cell, workloads[k].size() + 2));
    }
    t << (node_pass[i] ? "PASS" : "FAIL") << "\n";
  }
  if (!full) t << "(" << passing << " passing nodes not shown: see --json)\n";
  t << pad("fleet median", width);
  for (std::size_t k = 0; k < workloads.size(); ++k) t << pad(fmt("%.2f", medians[k]), std::max(cell, workloads[k].size() + 2));
  t << "\n";
  std::string outliers, failed;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    for (std::size_t k = 0; k < workloads.size(); ++k) {
      const Cell& c = cells[i][k];
      if (c.outlier) {
        outliers += "  " + nodes[i].node + ": " + workloads[k] + " " + fmt("%.2f GiB/s", c.gib_per_s) + ", " +
                    fmt("%.0f%%", c.below * 100) + " below the fleet median " + fmt("%.2f", medians[k]) + "\n";
      }
    }
    if (!nodes[i].error.empty()) failed += "  " + nodes[i].node + " (" + nodes[i].origin + "): " + nodes[i].error + "\n";
    else {
      for (std::size_t k = 0; k < workloads.size(); ++k) {
        if (!cells[i][k].error.empty()) {
          failed += "  " + nodes[i].node + " (" + nodes[i].origin + "): " + workloads[k] + ": " + cells[i][k].error + "\n";
        }
      }
    }
  }
  if (!outliers.empty()) t << "\noutliers:\n" << outliers;
  if (!failed.empty()) t << "\nfailed:\n" << failed;
  t << "\nverdict: " << (out.pass ? "PASS" : "FAIL") << " (" << passing << " of " << nodes.size() << " nodes pass)\n";
  out.text = t.str();

  // JUnit: a testsuite per node.
  std::ostringstream x;
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"swapio fleet " << xml_escape(profile) << "\">\n";
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    std::size_t failures = 0, errors = 0;
    std::string cases;
    for (std::size_t k = 0; k < workloads.size(); ++k) {
      const Cell& c = cells[i][k];
      cases += "    <testcase classname=\"swapio.fleet." + xml_escape(nodes[i].node) + "\" name=\"" + xml_escape(workloads[k]) + "\">\n";
      if (!c.measured) {
        ++errors;
        cases += "      <error message=\"" + xml_escape(c.error) + "\"/>\n";
      } else if (c.outlier) {
        ++failures;
        cases += "      <failure message=\"" +
                 xml_escape(fmt("%.2f GiB/s", c.gib_per_s) + fmt(" is %.0f%%", c.below * 100) +
                            " below the fleet median " + fmt("%.2f GiB/s", medians[k])) + "\"/>\n";
      } else if (!c.floors) {
        ++failures;
        cases += "      <failure message=\"" + xml_escape(fmt("%.2f GiB/s", c.gib_per_s) + " misses a floor of the node's own") + "\"/>\n";
      }
      cases += "    </testcase>\n";
    }
    x << "  <testsuite name=\"" << xml_escape(nodes[i].node) << "\" tests=\"" << workloads.size() << "\" failures=\""
      << failures << "\" errors=\"" << errors << "\">\n" << cases << "  </testsuite>\n";
  }
  x << "</testsuites>\n";
  out.junit = x.str();
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
    std::ifstream in(path);
    if (!in) throw ConfigError(path + ": cannot be read (" + std::string(std::strerror(errno)) + ")");
    std::stringstream text;
    text << in.rdbuf();
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text.str());
    } catch (const nlohmann::json::exception&) {
      throw ConfigError(path + ": not JSON (a swapio qualify --json report is)");
    }
    if (!j.is_object() || !j.contains("profile")) throw ConfigError(path + ": not a swapio qualify report");
    FleetNode n;
    n.node = node_name(j);
    if (n.node.empty()) throw ConfigError(path + ": the report names no node (no node and no facts.host)");
    n.origin = path;
    n.report = std::move(j);
    nodes.push_back(std::move(n));
  }
  if (!o.json.empty()) check_writable_file_folder("--json " + o.json, o.json);
  if (!o.junit.empty()) check_writable_file_folder("--junit " + o.junit, o.junit);
  const FleetReport r = fleet_report(nodes);
  std::fputs(r.text.c_str(), stdout);
  if (!o.json.empty()) write_report(o.json, r.json.dump(2) + "\n");
  if (!o.junit.empty()) write_report(o.junit, r.junit);
  return r.pass ? 0 : 1;
}

}  // namespace swapio::cli
