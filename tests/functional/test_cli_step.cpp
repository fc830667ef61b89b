// swapio step: every schedule x gradients swapped or not x 1 and 2 ranks x 1 and 2 folders at odd
// sub-group sizes, validated, with DeepSpeed's file names, sizes and alignment checked; the
// buffer-budget refusal, bad input, an interrupted run and a corrupted file.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <tuple>

#include "cli_running.hpp"

namespace swapio::test {
namespace {

namespace fs = std::filesystem;

// The layout the tests use: 4200012 parameters over a world of 2 give each rank 2100006, in
// sub-groups of 1000003 (neither a multiple of 256 nor of 1024): two swapped, and 100000
// elements (under 1 MiB) kept in memory, as DeepSpeed keeps them.
constexpr std::uint64_t kSubGroup = 1000003;
constexpr std::uint64_t kAligned = (kSubGroup + 255) / 256 * 256;  // 1024 bytes x 1 thread = 256 fp32
constexpr std::uint64_t kFileBytes = kAligned * 4;
const std::vector<std::string> kShape = {"step", "--params", "4200012", "--world-size", "2", "--sub-group-size", "1000003"};

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// DeepSpeed's names for a rank's files: per sub-group the parameters, Adam's two states, and the
// gradient when it is swapped.
std::set<std::string> expected_names(bool grads) {
  std::set<std::string> names;
  for (const std::string id : {"0_0", "1_1"}) {
    names.insert(id + ".tensor.swp");
    names.insert("exp_avg-" + id + ".tensor.swp");
    names.insert("exp_avg_sq-" + id + ".tensor.swp");
    if (grads) names.insert(id + "_gradient_0_" + std::to_string(kSubGroup) + ".tensor.swp");
  }
  return names;
}

using Combination = std::tuple<std::string, bool, unsigned, unsigned>;  // schedule, grads, ranks, folders

class StepMatrix : public Cli, public ::testing::WithParamInterface<Combination> {};

TEST_P(StepMatrix, SwapsValidatesAndLaysFilesOutAsDeepSpeed) {
  const auto [schedule, grads, ranks, nfolders] = GetParam();
  std::vector<std::string> folders = {dir_.path()};
  if (nfolders == 2) {
    fs::create_directory(dir_.file("second"));
    folders.push_back(dir_.file("second"));
  }
  std::vector<std::string> args = with(kShape, {"--schedule", schedule, "--swap-grads", grads ? "on" : "off", "--ranks",
                                                std::to_string(ranks), "--steps", "2", "--validate", "--json",
                                                "--keep-files", "--compute-threads", "1"});
  for (const std::string& f : folders) args = with(args, {"--folder", f});
  const Outcome o = run(args);
  ASSERT_EQ(o.status, 0) << o.err;
  const nlohmann::json doc = nlohmann::json::parse(o.out);

  // The traffic: a timed step reads and writes every tensor (and gradient) of every rank.
  const std::uint64_t per_group = (3 + (grads ? 1 : 0)) * kFileBytes;
  ASSERT_EQ(doc.at("steps").size(), 3u);
  const nlohmann::json& warmup = doc.at("steps")[0];
  EXPECT_TRUE(warmup.at("warmup").get<bool>());
  EXPECT_EQ(warmup.at("read_bytes"), ranks * 2 * (1 + (grads ? 1 : 0)) * kFileBytes) << "the first step reads no states";
  for (int k : {1, 2}) {
    const nlohmann::json& s = doc.at("steps")[k];
    EXPECT_EQ(s.at("read_bytes"), ranks * 2 * per_group);
    EXPECT_EQ(s.at("write_bytes"), ranks * 2 * per_group);
    EXPECT_GT(s.at("seconds").get<double>(), 0);
  }
  EXPECT_EQ(doc.at("model").at("sub_groups_swapped"), 2);
  EXPECT_EQ(doc.at("model").at("params_in_memory"), 100000);
  ASSERT_EQ(doc.at("validation").size(), 1u);
  EXPECT_EQ(doc.at("validation")[0].at("files"), ranks * 2 * (3 + (grads ? 1 : 0)));
  EXPECT_GT(doc.at("schedules").at(schedule).at("efficiency").get<double>(), 0);

  // The files, kept: DeepSpeed's names and aligned sizes under each rank's folder. DeepSpeed's
  // schedules keep rank r in folder r mod n; swapio's spreads every rank over every folder.
  for (unsigned r = 0; r < ranks; ++r) {
    std::set<std::string> found;
    for (std::size_t f = 0; f < folders.size(); ++f) {
      const std::string rank_dir = folders[f] + "/zero_stage_3/optimizer/rank" + std::to_string(r);
      if (!fs::exists(rank_dir)) continue;
      for (const auto& e : fs::directory_iterator(rank_dir)) {
        EXPECT_TRUE(found.insert(e.path().filename()).second) << e.path() << " is in two folders";
        EXPECT_EQ(fs::file_size(e.path()), kFileBytes) << e.path();
        EXPECT_EQ(fs::file_size(e.path()) % 1024, 0u);
        if (schedule != "swapio") {
          EXPECT_EQ(f, r % folders.size()) << e.path();
        }
      }
    }
    EXPECT_EQ(found, expected_names(grads)) << "rank " << r;
  }
  for (const std::string& f : folders) fs::remove_all(f + "/zero_stage_3");
}

INSTANTIATE_TEST_SUITE_P(Step, StepMatrix,
                         ::testing::Combine(::testing::Values("partitioned", "pipelined", "swapio"), ::testing::Bool(),
                                            ::testing::Values(1u, 2u), ::testing::Values(1u, 2u)),
                         [](const ::testing::TestParamInfo<Combination>& i) {
                           return std::get<0>(i.param) + (std::get<1>(i.param) ? "_grads" : "_no_grads") + "_" +
                                  std::to_string(std::get<2>(i.param)) + "rank_" + std::to_string(std::get<3>(i.param)) +
                                  "folder";
                         });

// Every round measures the ceilings again on the same scratch files (overwrites, as a steady
// step's writes are) and runs every schedule, in the reverse order every other round.
TEST_F(Cli, StepRoundsRemeasureTheCeilingsAndAlternateTheOrder) {
  const Outcome o = run(with(kShape, {"--rounds", "2", "--steps", "1", "--compute", "none", "--json"}));
  ASSERT_EQ(o.status, 0) << o.err;
  const nlohmann::json doc = nlohmann::json::parse(o.out);
  EXPECT_GT(doc.at("ceilings").at("write_gib_per_s").get<double>(), 0);
  EXPECT_GT(doc.at("ceilings").at("duplex_gib_per_s").get<double>(), 0);
  std::vector<std::string> order;
  for (const nlohmann::json& s : doc.at("steps")) {
    if (s.at("number") == 1) order.push_back(std::to_string(s.at("round").get<unsigned>()) + s.at("schedule").get<std::string>());
  }
  EXPECT_EQ(order, (std::vector<std::string>{"0partitioned", "0pipelined", "0swapio", "1swapio", "1pipelined", "1partitioned"}));
  EXPECT_FALSE(fs::exists(dir_.file("zero_stage_3")));
}

TEST_F(Cli, StepRefusesBadInputAndCreatesNothing) {
  expect_refused({
      {{"step"}, "--params is required"},
      {{"step", "--params", "0"}, "--params 0"},
      {{"step", "--params=-5"}, "--params -5"},
      {{"step", "--params", "7Q"}, "unknown suffix 'Q'"},
      {{"step", "--params", "1B", "--sub-group-size", "0"}, "--sub-group-size 0"},
      {{"step", "--params", "1B", "--optimizer", "rmsprop"}, "--optimizer rmsprop: unknown optimizer"},
      {{"step", "--params", "1B", "--schedule", "fast"}, "--schedule fast: unknown schedule"},
      {{"step", "--params", "1B", "--compute=-1"}, "--compute -1"},
      {{"step", "--params", "1B", "--ranks", "0"}, "--ranks 0"},
      {{"step", "--params", "1B", "--steps", "0"}, "--steps 0"},
      {{"step", "--params", "1B", "--ranks", "4", "--world-size", "2"}, "smaller than --ranks 4"},
      {{"step", "--params", "1B", "--folder", "no-such-folder"}, "--folder no-such-folder: no such folder"},
      {{"step", "--params", "100K"}, "nothing to swap"},
      {{"step", "--params", "1B", "--pinned-memory", "0"}, "--pinned-memory 0"},
      {{"step", "--params", "1B", "--atomic-replace"}, "--atomic-replace"},
      {{"step", "--params", "1B", "--swap-grads", "maybe"}, "--swap-grads"},
      {{"step", "--params", "1B", "--block-size", "0"}, "--block-size 0"},
  });
  EXPECT_FALSE(fs::exists(dir_.file("zero_stage_3")));
}

TEST_F(Cli, StepRefusesAScheduleWhoseBuffersExceedTheBudget) {
  // A sub-group's buffer is 3.8 MiB: partitioned needs 4 of them (15.3 MiB), pipelined 12 (45.8 MiB).
  expect_refused({
      {with(kShape, {"--schedule", "partitioned", "--pinned-memory", "10M"}),
       "--schedule partitioned needs 4 page-locked buffers of 3.8 MiB (0.01 GiB) per rank"},
      {with(kShape, {"--schedule", "all", "--pinned-memory", "20M"}), "--schedule pipelined needs 12 page-locked buffers"},
      {with(kShape, {"--schedule", "swapio", "--prefetch", "4", "--write-behind", "4", "--pinned-memory", "20M"}),
       "--schedule swapio needs 36 page-locked buffers"},
  });
  EXPECT_FALSE(fs::exists(dir_.file("zero_stage_3")));
}

TEST_F(Cli, StepRefusesFoldersThatCannotHoldTheRun) {
  ScratchMount tmpfs(dir_.path(), "small", "tmpfs", "size=8m");
  if (!tmpfs.ok()) GTEST_SKIP() << "no tmpfs here: " << tmpfs.why_not();
  const Outcome direct = run(with(kShape, {"--folder", tmpfs.path()}));
  if (direct.status == 2) {
    EXPECT_NE(direct.err.find("cannot take O_DIRECT"), std::string::npos) << direct.err;
  } else {
    ADD_FAILURE() << "tmpfs took O_DIRECT here, or the run failed otherwise: " << direct.err;
  }
  expect_refused({{with(kShape, {"--folder", tmpfs.path(), "--direct", "off"}), "its filesystem has"}});
  EXPECT_FALSE(fs::exists(tmpfs.path() + "/zero_stage_3"));
}

TEST_F(Cli, StepNeverTouchesAFileItDidNotCreate) {
  const std::string rank_dir = dir_.file("zero_stage_3/optimizer/rank0");
  fs::create_directories(rank_dir);
  std::ofstream(rank_dir + "/exp_avg-1_1.tensor.swp") << "a real run's optimizer state";
  expect_refused({{kShape, "exp_avg-1_1.tensor.swp exists"}});
  EXPECT_EQ(slurp(rank_dir + "/exp_avg-1_1.tensor.swp"), "a real run's optimizer state");
}

TEST_F(Cli, StepValidationNamesTheCorruptedFileAndOffset) {
  const std::string victim = dir_.file("zero_stage_3/optimizer/rank0/exp_avg-1_1.tensor.swp");
  ::setenv("SWAPIO_STEP_TEST_CORRUPT", victim.c_str(), 1);
  const Outcome o = run(with(kShape, {"--schedule", "partitioned", "--steps", "1", "--validate", "--folder", dir_.path()}));
  ::unsetenv("SWAPIO_STEP_TEST_CORRUPT");
  EXPECT_EQ(o.status, 1) << o.err;
  EXPECT_NE(o.err.find(victim + ": the 4096 bytes at offset 4096 differ from what the last step wrote there"),
            std::string::npos)
      << o.err;
  EXPECT_FALSE(fs::exists(dir_.file("zero_stage_3"))) << "a failed run removes what it created";
}

TEST_F(Cli, StepInterruptedLeavesNothingItCreated) {
  const std::string params = dir_.file("zero_stage_3/optimizer/rank0/0_0.tensor.swp");
  const Outcome o = run_and_act(dir_, with(kShape, {"--ranks", "2", "--steps", "1000", "--compute", "none"}), 2,
                                [&](pid_t step, const std::vector<pid_t>&) {
                                  EXPECT_TRUE(wait_until([&] { return fs::exists(params); })) << "no step began";
                                  ::kill(step, SIGINT);
                                });
  EXPECT_EQ(o.status, 128 + SIGINT) << o.err;
  EXPECT_NE(o.err.find("interrupted"), std::string::npos) << o.err;
  EXPECT_FALSE(fs::exists(dir_.file("zero_stage_3"))) << "an interrupted run removes what it created";
}

// A profile's "op": "step" workload: qualify runs swapio step each round and judges its median
// against the I/O lower bound the step measured and against a step-time ceiling.
TEST_F(Cli, QualifyJudgesAStepWorkload) {
  fs::create_directory(dir_.file("q"));
  const auto profile = [&](double seconds) {
    const std::string path = dir_.file("p.json");
    std::ofstream(path) << nlohmann::json{
        {"name", "steps"}, {"rounds", 2},
        {"workloads", {{{"name", "step-odd"}, {"op", "step"}, {"params", "4200012"}, {"world_size", 2},
                        {"sub_group_size", "1000003"}, {"ranks", 2}, {"steps", 1}, {"floor_vs_lower_bound", 0.05},
                        {"floor_step_seconds", seconds}}}}};
    return path;
  };
  Outcome o = run({"qualify", "--profile", profile(600), "--folder", dir_.file("q"), "--json", dir_.file("q.json")});
  EXPECT_EQ(o.status, 0) << o.out << o.err;
  const nlohmann::json j = nlohmann::json::parse(slurp(dir_.file("q.json")));
  const nlohmann::json& w = j.at("workloads")[0];
  ASSERT_EQ(w.at("checks").size(), 2u) << w.dump(2);
  EXPECT_EQ(w.at("checks")[0].at("kind"), "vs lower bound");
  EXPECT_EQ(w.at("checks")[1].at("kind"), "step time");
  EXPECT_EQ(w.at("programs").at("swapio").at("gib_per_s").size(), 2u) << "one swapio step run per round";
  EXPECT_NE(o.out.find("I/O lower bound"), std::string::npos) << o.out;

  o = run({"qualify", "--profile", profile(0.0001), "--folder", dir_.file("q")});
  EXPECT_EQ(o.status, 1) << o.out << o.err;
  EXPECT_TRUE(std::regex_search(o.out, std::regex("^step-odd +step .* step <= 0.0001 s +FAIL$", std::regex::multiline))) << o.out;
  EXPECT_TRUE(std::regex_search(o.out, std::regex("^step-odd +step .* I/O lower bound +PASS$", std::regex::multiline))) << o.out;
  EXPECT_TRUE(fs::is_empty(dir_.file("q"))) << "qualify left files in the folder";
}

TEST_F(Cli, QualifyRefusesABadStepWorkload) {
  const std::string path = dir_.file("p.json");
  std::ofstream(path) << R"({"name": "bad", "workloads": [{"name": "s", "op": "step", "params": "7Q", "floor_vs_lower_bound": 0.5}]})";
  expect_refused({{{"qualify", "--profile", path, "--folder", dir_.path()}, "unknown suffix 'Q'"}});
  std::ofstream(path) << R"({"name": "bad", "workloads": [{"name": "s", "op": "step", "params": "7B"}]})";
  expect_refused({{{"qualify", "--profile", path, "--folder", dir_.path()}, "no floor"}});
}

}  // namespace
}  // namespace swapio::test
