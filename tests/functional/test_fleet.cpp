// The fleet report from node reports: outliers among many nodes, each node's verdict, like
// compared with like, reports cut short, and rank 0's record of a run in progress.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "qualify/fleet.hpp"
#include "qualify/fleet_progress.hpp"
#include "swapio/error.hpp"

namespace swapio::test {
namespace {

// A node's qualify report as swapio qualify --json writes it (the fields the fleet reads).
nlohmann::json node_report(const std::string& node, const std::vector<double>& gib, const std::string& profile = "p",
                           bool floors = true) {
  nlohmann::json w = nlohmann::json::array();
  for (std::size_t k = 0; k < gib.size(); ++k) {
    w.push_back({{"name", "w" + std::to_string(k)},
                 {"programs", {{"swapio", {{"median_gib_per_s", gib[k]}, {"gib_per_s", {gib[k]}}}}}},
                 {"error", nullptr},
                 {"pass", floors}});
  }
  return {{"profile", profile}, {"node", node}, {"workloads", w}, {"pass", floors}, {"facts", {{"host", node}}}};
}

std::vector<cli::FleetNode> fleet_of(const std::vector<nlohmann::json>& reports) {
  std::vector<cli::FleetNode> nodes;
  for (const auto& r : reports) nodes.push_back({r["node"], "file " + r["node"].get<std::string>() + ".json", r, ""});
  return nodes;
}

// 1000 nodes at about 5 GiB/s (a deterministic 2% spread) with 7 planted outliers, some only in
// one workload, one just inside the rule: exactly the planted ones are named, in well under a second.
TEST(Fleet, AThousandNodesNameExactlyThePlantedOutliers) {
  std::vector<nlohmann::json> reports;
  std::set<std::string> planted;
  for (int i = 0; i < 1000; ++i) {
    const double spread = 1.0 + 0.02 * std::sin(i * 12.9898);  // within +-2%
    std::vector<double> gib = {5.0 * spread, 7.0 * spread};
    const std::string name = "node-" + std::to_string(i);
    if (i % 143 == 7) {  // 7 of them
      gib[i % 2] *= 0.6;  // 40% slower in one workload
      planted.insert(name);
    }
    if (i == 500) gib[0] *= 0.9;  // 10% slower: inside the 15% rule
    reports.push_back(node_report(name, gib));
  }
  const auto t0 = std::chrono::steady_clock::now();
  const cli::FleetReport r = cli::fleet_report(fleet_of(reports));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(seconds, 1.0);
  std::set<std::string> named;
  for (const auto& w : r.json["workloads"]) {
    for (const auto& o : w["outliers"]) named.insert(o.get<std::string>());
  }
  EXPECT_EQ(named, planted);
  EXPECT_FALSE(r.pass);
  EXPECT_EQ(r.json["nodes_passing"], 993);
  EXPECT_NEAR(r.json["workloads"][0]["median_gib_per_s"].get<double>(), 5.0, 0.1);
  // One screen: past 40 nodes only the failing ones are listed.
  EXPECT_LT(std::count(r.text.begin(), r.text.end(), '\n'), 40) << r.text;
  EXPECT_NE(r.text.find("node-7 "), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("993 passing nodes not shown"), std::string::npos) << r.text;
  const auto occurrences = [&](const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t at = r.junit.find(needle); at != std::string::npos; at = r.junit.find(needle, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(occurrences("<testsuite "), 1000u);
  EXPECT_EQ(occurrences("<failure "), 7u);
}

TEST(Fleet, NodesFailOnTheirFloorsTheirErrorsAndAsOutliers) {
  auto reports = std::vector<nlohmann::json>{node_report("a", {5.0}), node_report("b", {5.1}), node_report("c", {4.9}),
                                             node_report("d", {5.0}, "p", false), node_report("e", {1.0})};
  reports.push_back(node_report("f", {5.0}));
  reports.back()["workloads"][0]["error"] = "swapio bench exited with status 1";
  auto nodes = fleet_of(reports);
  nodes.push_back({"g", "rank 6", nullptr, "--folder /nope: not a folder"});
  const cli::FleetReport r = cli::fleet_report(nodes);
  std::map<std::string, std::string> verdict;
  for (const auto& n : r.json["nodes"]) verdict[n["node"]] = n["verdict"];
  EXPECT_EQ(verdict, (std::map<std::string, std::string>{
                         {"a", "PASS"}, {"b", "PASS"}, {"c", "PASS"}, {"d", "FAIL"}, {"e", "FAIL"}, {"f", "FAIL"}, {"g", "FAIL"}}));
  EXPECT_EQ(r.json["workloads"][0]["outliers"], nlohmann::json::array({"e"}));
  for (const char* s : {"e: w0 1.00 GiB/s, 80% below the fleet median 5.00", "f (file f.json): w0: swapio bench exited",
                        "g (rank 6): --folder /nope: not a folder", "verdict: FAIL (3 of 7 nodes pass)"}) {
    EXPECT_NE(r.text.find(s), std::string::npos) << s << "\n" << r.text;
  }
  // Two nodes cannot tell which one is slow: no outlier is judged.
  const cli::FleetReport two = cli::fleet_report(fleet_of({node_report("a", {5.0}), node_report("b", {1.0})}));
  EXPECT_TRUE(two.pass);
  EXPECT_FALSE(two.json["workloads"][0]["outliers_judged"].get<bool>());
}

TEST(Fleet, OnlyLikeIsComparedWithLike) {
  const auto refused = [](const std::vector<nlohmann::json>& reports, const std::string& needle) {
    try {
      (void)cli::fleet_report(fleet_of(reports));
      ADD_FAILURE() << "accepted: " << needle;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  refused({node_report("a", {1}), node_report("b", {1}, "other")}, "ran profile other");
  refused({node_report("a", {1}), node_report("b", {1, 2})}, "different workloads");
  refused({node_report("a", {1}), node_report("a", {1})}, "node a appears twice (file a.json and file a.json)");
  refused({}, "no node reports");
}

// A report written before the end: nodes with workloads not run yet, or cut short by an
// interrupt, are INCOMPLETE (not FAIL), a failure still fails, and a workload nobody measured
// has null figures, not 0.
TEST(Fleet, NodesNotMeasuredToTheEndAreIncomplete) {
  auto reports = std::vector<nlohmann::json>{node_report("a", {5.0, 1.0}), node_report("b", {5.1, 1.0}),
                                             node_report("c", {4.9, 1.0})};
  for (auto& r : reports) r["workloads"][1]["error"] = "not run yet";
  reports[2]["workloads"][0]["error"] = "interrupted by Terminated";
  auto nodes = fleet_of(reports);
  const cli::FleetReport r = cli::fleet_report(nodes);
  std::map<std::string, std::string> verdict;
  for (const auto& n : r.json["nodes"]) verdict[n["node"]] = n["verdict"];
  EXPECT_EQ(verdict, (std::map<std::string, std::string>{{"a", "INCOMPLETE"}, {"b", "INCOMPLETE"}, {"c", "INCOMPLETE"}}));
  EXPECT_EQ(r.json["verdict"], "INCOMPLETE");
  EXPECT_FALSE(r.pass);
  EXPECT_EQ(r.json["nodes_incomplete"], 3);
  for (const char* figure : {"median_gib_per_s", "mad_gib_per_s", "min_gib_per_s", "max_gib_per_s"}) {
    EXPECT_TRUE(r.json["workloads"][1][figure].is_null()) << figure << ": " << r.json["workloads"][1];
  }
  EXPECT_NEAR(r.json["workloads"][0]["median_gib_per_s"].get<double>(), 5.05, 1e-9);
  EXPECT_NE(r.text.find("verdict: INCOMPLETE (0 of 3 nodes pass, 3 not measured to the end)"), std::string::npos) << r.text;
  EXPECT_TRUE(std::regex_search(r.text, std::regex("^fleet median +5.05 +- *$", std::regex::multiline))) << r.text;
  EXPECT_NE(r.junit.find("<skipped message=\"not run yet\"/>"), std::string::npos) << r.junit;
  // A node that failed as a whole fails the fleet, however much is still to come.
  nodes.push_back({"d", "rank 3", nullptr, "rank 3 (d) did not reach workload 2"});
  const cli::FleetReport failed = cli::fleet_report(nodes);
  EXPECT_EQ(failed.json["verdict"], "FAIL");
  EXPECT_EQ(failed.json["nodes"][3]["verdict"], "FAIL");
}

// The outlier rule is the fleet's, whichever report comes first: reports with different rules
// are refused in any order.
TEST(Fleet, TheRuleDoesNotDependOnTheOrder) {
  auto loose = node_report("a", {5.0}), b = node_report("b", {5.0}), strict = node_report("c", {1.0});
  loose["fleet_rule"] = {{"outlier_fraction", 0.95}, {"outlier_mads", 3.5}};
  b["fleet_rule"] = loose["fleet_rule"];
  strict["fleet_rule"] = {{"outlier_fraction", 0.15}, {"outlier_mads", 3.5}};
  for (const auto& order : {std::vector<nlohmann::json>{loose, b, strict}, std::vector<nlohmann::json>{strict, loose, b}}) {
    try {
      (void)cli::fleet_report(fleet_of(order));
      ADD_FAILURE() << "different rules accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("differ in fleet_rule"), std::string::npos) << e.what();
    }
  }
}

// Rank 0's record of a run: the ranks whose result of a point has not come are named, and the
// report so far has the profile's rule and INCOMPLETE nodes.
TEST(Fleet, ProgressNamesTheRanksThatDidNotCome) {
  cli::FleetProgress p;
  p.set_ranks({"n0", "n1", "n2", "n0"});
  EXPECT_FALSE(p.measures(3));
  p.set_profile({"w0", "w1"}, "p", {0.5, 0.0});
  for (int rank = 0; rank < 4; ++rank) p.add_result(rank, nullptr);  // the start
  nlohmann::json done = node_report("n0", {5.0})["workloads"][0];
  for (int rank : {0, 1, 3}) p.add_result(rank, rank == 3 ? nlohmann::json() : done);
  EXPECT_EQ(p.missing(2), std::vector<int>{2});
  EXPECT_EQ(p.who(2), "rank 2 (n2)");
  p.fail(2, "rank 2 (n2) did not reach workload 2");
  const cli::FleetReport r = p.report();
  EXPECT_EQ(r.json["rule"]["outlier_fraction"], 0.5);
  std::map<std::string, std::string> verdict;
  for (const auto& n : r.json["nodes"]) verdict[n["node"]] = n["verdict"];
  EXPECT_EQ(verdict, (std::map<std::string, std::string>{{"n0", "INCOMPLETE"}, {"n1", "INCOMPLETE"}, {"n2", "FAIL"}}));
  EXPECT_EQ(r.json["nodes"][2]["error"], "rank 2 (n2) did not reach workload 2");
  EXPECT_TRUE(r.json["workloads"][1]["median_gib_per_s"].is_null());
}

}  // namespace
}  // namespace swapio::test
