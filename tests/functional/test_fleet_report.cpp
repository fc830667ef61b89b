// `swapio fleet-report` on hand-edited reports: like is compared with like (every field that
// decides a figure agrees), every field is checked for type and range, and each refusal is one
// line naming the file(s) and the field, exit status 2, with --json's error document. The
// reports edited are real ones, written by `swapio qualify --json` under three node names.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support.hpp"

extern char** environ;

namespace swapio::test {
namespace {

using nlohmann::json;

struct Outcome {
  int status = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs swapio with args (env: extra NAME=VALUE entries), stdout and stderr to files in dir.
Outcome run(const TempDir& dir, std::vector<std::string> args, const std::vector<std::string>& env = {}) {
  args.insert(args.begin(), SWAPIO_CLI_PATH);
  if (!env.empty()) {
    args.insert(args.begin(), env.begin(), env.end());
    args.insert(args.begin(), "env");
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string out = dir.file(".out"), err = dir.file(".err");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addchdir_np(&fa, dir.path().c_str());
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  Outcome o;
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn: " << std::strerror(rc);
    return o;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      ADD_FAILURE() << "waitpid: " << std::strerror(errno);
      return o;
    }
  }
  o.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  o.out = slurp(out);
  o.err = slurp(err);
  return o;
}

class FleetReport : public ::testing::Test {
 protected:
  // Three nodes' reports of one profile, written once for the suite.
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    std::filesystem::create_directory(dir_->file("q"));
    const std::string profile = dir_->file("p.json");
    std::ofstream(profile) << R"({"name": "fleet", "rounds": 1, "fleet": {"outlier_fraction": 0.95},
        "workloads": [{"name": "w", "op": "write", "size": "4M", "floor_gib_per_s": 0},
                      {"name": "r", "op": "read", "size": "4M", "floor_gib_per_s": 0}]})";
    for (const char* node : {"n1", "n2", "n3"}) {
      const Outcome o = run(*dir_, {"qualify", "--profile", profile, "--folder", dir_->file("q"), "--json",
                                    dir_->file(std::string(node) + ".json")},
                            {std::string("SWAPIO_FLEET_HOST=") + node});
      ASSERT_EQ(o.status, 0) << o.out << o.err;
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static json report(const std::string& node) { return json::parse(slurp(dir_->file(node + ".json"))); }
  // n3's report edited, as NAME.
  static std::string edited(const std::string& name, const std::function<void(json&)>& edit) {
    json j = report("n3");
    edit(j);
    std::ofstream(dir_->file(name)) << j.dump(2);
    return dir_->file(name);
  }
  // fleet-report of the files refuses: exit 2, one line on stderr holding every needle, and
  // with --json the error document on stdout.
  static void refused(const std::vector<std::string>& files, const std::vector<std::string>& needles) {
    std::vector<std::string> args = {"fleet-report"};
    args.insert(args.end(), files.begin(), files.end());
    args.insert(args.end(), {"--json", dir_->file("fleet.out")});
    const Outcome o = run(*dir_, args);
    EXPECT_EQ(o.status, 2) << o.out << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
    for (const std::string& needle : needles) EXPECT_NE(o.err.find(needle), std::string::npos) << needle << "\n" << o.err;
    const json doc = json::parse(o.out, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << "--json: no error document: " << o.out;
    EXPECT_EQ(doc["error"]["exit_status"], 2) << o.out;
    EXPECT_EQ(doc["error"]["kind"], "bad-arguments") << o.out;
  }
  static TempDir* dir_;
};

TempDir* FleetReport::dir_ = nullptr;

// Every field that decides a figure must agree; a mismatch names both files and the field.
TEST_F(FleetReport, RefusesReportsThatDifferInWhatDecidesAFigure) {
  const std::string n1 = dir_->file("n1.json"), n2 = dir_->file("n2.json");
  struct Case {
    const char* name;
    std::function<void(json&)> edit;
    const char* field;
  };
  const std::vector<Case> cases = {
      {"size.json", [](json& j) { j["workloads"][0]["size"] = 8 << 20; }, "workloads[0] (w) size"},
      {"block.json", [](json& j) { j["workloads"][0]["block_size"] = 8 << 20; }, "workloads[0] (w) block_size"},
      {"op.json", [](json& j) { j["workloads"][1]["op"] = "write"; }, "workloads[1] (r) op"},
      {"qd.json", [](json& j) { j["workloads"][1]["queue_depth"] = 128; }, "workloads[1] (r) queue_depth"},
      {"engine.json", [](json& j) { j["workloads"][0]["engine"] = "aio"; }, "workloads[0] (w) engine"},
      {"direct.json", [](json& j) { j["workloads"][0]["direct"] = false; }, "workloads[0] (w) direct"},
      {"procs.json", [](json& j) { j["workloads"][0]["processes"] = 4; }, "workloads[0] (w) processes"},
      {"folders.json", [](json& j) { j["folders"].push_back("/elsewhere"); }, "the number of folders"},
      {"rule.json", [](json& j) { j["fleet_rule"]["outlier_fraction"] = 0.1; }, "fleet_rule.outlier_fraction"},
      {"mads.json", [](json& j) { j["fleet_rule"]["outlier_mads"] = 1; }, "fleet_rule.outlier_mads"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string odd = edited(c.name, c.edit);
    refused({n1, n2, odd}, {n1, odd, c.field, "like with like"});
  }
}

// The verdict is the fleet's, not the first file's: any order of the same files gives the same
// verdict, and reports whose outlier rules differ are refused in every order.
TEST_F(FleetReport, TheOrderOfTheFilesDoesNotChangeTheVerdict) {
  const std::string n1 = dir_->file("n1.json"), n2 = dir_->file("n2.json");
  // Figures set by hand, so that only the planted node is slow: c at a tenth of the others in w,
  // an outlier under a 50% rule (and not under the profile's 95%).
  const auto node = [](const std::string& from, const std::string& name, double w, double r) {
    json j = report(from);
    j["fleet_rule"] = {{"outlier_fraction", 0.5}, {"outlier_mads", 0}};
    j["workloads"][0]["programs"]["swapio"]["median_gib_per_s"] = w;
    j["workloads"][1]["programs"]["swapio"]["median_gib_per_s"] = r;
    std::ofstream(dir_->file(name)) << j.dump();
    return dir_->file(name);
  };
  node("n1", "a.json", 1.0, 1.0);
  node("n2", "b.json", 1.1, 1.1);
  const std::string c = node("n3", "c.json", 0.1, 1.05);
  std::vector<std::string> files = {dir_->file("a.json"), dir_->file("b.json"), c};
  std::sort(files.begin(), files.end());
  do {
    const Outcome o = run(*dir_, {"fleet-report", files[0], files[1], files[2]});
    EXPECT_EQ(o.status, 1) << files[0] << " " << files[1] << " " << files[2] << "\n" << o.out << o.err;
    EXPECT_NE(o.out.find("verdict: FAIL (2 of 3 nodes pass)"), std::string::npos) << o.out;
  } while (std::next_permutation(files.begin(), files.end()));
  // n3 under the 50% rule beside n1 and n2 under the profile's 95%: whichever comes first, refused.
  refused({n1, n2, c}, {n1, c, "fleet_rule.outlier_fraction"});
  refused({c, n1, n2}, {c, n1, "fleet_rule.outlier_fraction"});
}

// Each field of the wrong type or out of range, an unknown schema version, a folder: refused,
// naming the file and the field, never a library's exception.
TEST_F(FleetReport, ChecksEveryFieldForTypeAndRange) {
  const std::string n1 = dir_->file("n1.json");
  struct Case {
    const char* name;
    std::function<void(json&)> edit;
    const char* field;
  };
  const std::vector<Case> cases = {
      {"fraction.json", [](json& j) { j["fleet_rule"]["outlier_fraction"] = -1; }, "fleet_rule.outlier_fraction"},
      {"huge-mads.json", [](json& j) { j["fleet_rule"]["outlier_mads"] = 1e300; }, "fleet_rule.outlier_mads"},
      {"no-rule.json", [](json& j) { j.erase("fleet_rule"); }, "fleet_rule: missing"},
      {"negative.json", [](json& j) { j["workloads"][0]["programs"]["swapio"]["median_gib_per_s"] = -2.5; },
       "workloads[0] (w).programs.swapio.median_gib_per_s"},
      {"negative-round.json", [](json& j) { j["workloads"][1]["programs"]["swapio"]["gib_per_s"][0] = -1; },
       "workloads[1] (r).programs.swapio.gib_per_s[0]"},
      {"v2.json", [](json& j) { j["schema_version"] = 2; }, "schema_version: 2 is not a version this swapio reads"},
      {"v-text.json", [](json& j) { j["schema_version"] = "1"; }, "schema_version: expected a whole number"},
      {"no-version.json", [](json& j) { j.erase("schema_version"); }, "schema_version: missing"},
      {"node.json", [](json& j) { j["node"] = 42; }, "node: expected a non-empty string, not 42"},
      {"error.json", [](json& j) { j["workloads"][0]["error"] = 5; }, "workloads[0] (w).error: expected a string or null"},
      {"size.json", [](json& j) { j["workloads"][0]["size"] = "big"; }, "workloads[0] (w).size: expected a whole number"},
      {"pass.json", [](json& j) { j["workloads"][1]["pass"] = "yes"; }, "workloads[1] (r).pass: expected true or false"},
      {"name.json", [](json& j) { j["workloads"][1]["name"] = 7; }, "workloads[1].name: expected a non-empty string"},
      {"profile.json", [](json& j) { j["profile"] = 7; }, "profile: expected a non-empty string"},
      {"programs.json", [](json& j) { j["workloads"][0]["programs"] = json::array(); }, "workloads[0] (w).programs: expected an object"},
      {"folders.json", [](json& j) { j["folders"] = "q"; }, "folders: expected a list"},
      {"host.json", [](json& j) { j["facts"]["host"] = false; }, "facts.host: expected a non-empty string"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string bad = edited(c.name, c.edit);
    refused({n1, bad}, {bad + ": ", c.field});
  }
  std::filesystem::create_directory(dir_->file("folder.json"));
  refused({n1, dir_->file("folder.json")}, {dir_->file("folder.json") + ": a folder, not a swapio qualify --json report"});
}

}  // namespace
}  // namespace swapio::test
