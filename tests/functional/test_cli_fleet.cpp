// A fleet from the command line: nodes qualified one by one and merged by fleet-report, and
// qualify --fleet without a launcher.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "cli_fixture.hpp"

namespace swapio::test {
namespace {

// fleet-report: nodes qualified one by one (real runs, each under its own node name), merged.
TEST_F(Cli, FleetReportMergesNodeReports) {
  const auto profile = [&](const std::string& name) {
    const std::string path = dir_.file(name + ".json");
    // Runs of 4 MiB one after another on one disk differ by 20x and more under load (a stall, a
    // sanitizer): this test is about the merge, so no node can be an outlier (fraction 1: below
    // the median by all of it). The rule's own tests are in test_fleet.cpp.
    std::ofstream(path) << nlohmann::json{
        {"name", name},
        {"rounds", 1},
        {"fleet", {{"outlier_fraction", 1}}},
        {"workloads",
         {{{"name", "w"}, {"op", "write"}, {"size", "4M"}, {"floor_gib_per_s", 0}},
          {{"name", "r"}, {"op", "read"}, {"size", "4M"}, {"floor_gib_per_s", 0}}}}};
    return path;
  };
  const std::string p = profile("fleet"), other = profile("other");
  std::filesystem::create_directory(dir_.file("q"));
  std::vector<std::string> reports;
  for (const std::string node : {"n1", "n2", "n3"}) {
    const std::string report = dir_.file(node + ".report");
    const Outcome o = run_prefixed({"env", "SWAPIO_FLEET_HOST=" + node},
                                   {"qualify", "--profile", p, "--folder", dir_.file("q"), "--json", report});
    ASSERT_EQ(o.status, 0) << o.out << o.err;
    EXPECT_EQ(nlohmann::json::parse(slurp(report)).at("node"), node);
    reports.push_back(report);
  }
  Outcome o = run({"fleet-report", reports[0], reports[1], reports[2], "--json", dir_.file("fleet.out"), "--junit",
                   dir_.file("fleet.xml")});
  EXPECT_EQ(o.status, 0) << o.out << o.err;
  for (const char* line : {"swapio fleet: profile fleet, 3 nodes", "fleet median", "verdict: PASS (3 of 3 nodes pass)"}) {
    EXPECT_NE(o.out.find(line), std::string::npos) << line << "\n" << o.out;
  }
  EXPECT_TRUE(std::regex_search(o.out, std::regex("^n2 +[0-9.]+ PASS +[0-9.]+ PASS +PASS$", std::regex::multiline))) << o.out;
  const nlohmann::json j = nlohmann::json::parse(slurp(dir_.file("fleet.out")));
  EXPECT_EQ(j.at("verdict"), "PASS");
  EXPECT_EQ(j.at("schema_version"), 1);
  EXPECT_EQ(j.at("nodes").size(), 3u);
  EXPECT_EQ(j.at("nodes")[0].at("report").at("workloads")[0].at("programs").at("swapio").at("gib_per_s").size(), 1u);
  EXPECT_NE(slurp(dir_.file("fleet.xml")).find("<testsuite name=\"n3\" tests=\"2\" failures=\"0\""), std::string::npos);

  // A node of another profile, the same node twice, a file that is not there: refused, exit 2.
  const std::string foreign = dir_.file("n4.report");
  ASSERT_EQ(run_prefixed({"env", "SWAPIO_FLEET_HOST=n4"},
                         {"qualify", "--profile", other, "--folder", dir_.file("q"), "--json", foreign}).status, 0);
  const std::string twin = dir_.file("twin.report");
  std::filesystem::copy_file(reports[0], twin);
  expect_refused({
      {{"fleet-report", reports[0], reports[1], foreign}, "ran profile other"},
      {{"fleet-report", reports[0], twin}, "node n1 appears twice (" + reports[0] + " and " + twin + ")"},
      {{"fleet-report", reports[0], dir_.file("gone.json")}, "gone.json: cannot be read"},
      {{"fleet-report", reports[0], p}, "not a swapio qualify report"},
  });
  const Outcome none = run({"fleet-report"});
  EXPECT_EQ(none.status, 2) << none.err;
}

TEST_F(Cli, QualifyFleetWithoutALauncherRunsAsAFleetOfOne) {
  if (run({"--version"}).out.find("MPI: yes") != std::string::npos) {
    std::filesystem::create_directory(dir_.file("q"));
    const std::string p = dir_.file("one.json");
    std::ofstream(p) << R"({"name": "one", "rounds": 1, "workloads": [
        {"name": "w", "op": "write", "size": "4M", "floor_gib_per_s": 0}]})";
    // Under AddressSanitizer: OpenMPI keeps allocations past MPI_Finalize (some in components it
    // has unloaded by then), which are not swapio's to free.
    const Outcome o = run_prefixed({"env", "ASAN_OPTIONS=detect_leaks=0"},
                                   {"qualify", "--fleet", "--profile", p, "--folder", dir_.file("q")});
    EXPECT_EQ(o.status, 0) << o.out << o.err;
    EXPECT_NE(o.out.find("swapio fleet: profile one, 1 node"), std::string::npos) << o.out;
  } else {
    expect_refused({{{"qualify", "--fleet"}, "--fleet: this build has no MPI"}});
  }
}

}  // namespace
}  // namespace swapio::test
