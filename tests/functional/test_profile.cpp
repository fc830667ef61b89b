// Node profiles: every shipped profile loads; bad ones are refused with the file, the workload
// and the key named; a workload's knobs and loops reach the command that measures it.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "qualify/floors.hpp"
#include "qualify/profile.hpp"
#include "support.hpp"
#include "swapio/error.hpp"

namespace swapio::test {
namespace {

using cli::parse_profile;

nlohmann::json good() {
  return nlohmann::json::parse(R"({
    "name": "t", "rounds": 3,
    "workloads": [ { "name": "w", "op": "write", "size": "64M", "block_size": "8M", "queue_depth": 8,
                     "processes": 2, "io_parallel": 2, "handle": false, "engine": "aio",
                     "floor_gib_per_s": 1.5, "floor_vs_fio": 1.0 } ] })");
}

std::string refusal(const nlohmann::json& j) {
  try {
    parse_profile(j, "p.json");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(Profile, ReadsEveryField) {
  const cli::Profile p = parse_profile(good(), "p.json");
  EXPECT_EQ(p.name, "t");
  EXPECT_EQ(p.rounds, 3u);
  ASSERT_EQ(p.workloads.size(), 1u);
  const cli::Workload& w = p.workloads[0];
  EXPECT_TRUE(w.write);
  EXPECT_EQ(w.size, 64u << 20);
  EXPECT_EQ(w.config.block_size, 8u << 20);
  EXPECT_EQ(w.config.queue_depth, 8u);
  EXPECT_EQ(w.processes, 2u);
  EXPECT_EQ(w.config.intra_op_parallelism, 2u);
  EXPECT_FALSE(w.handle);
  EXPECT_EQ(w.config.engine, Engine::aio);
  EXPECT_EQ(w.floor_gib_per_s, 1.5);
  EXPECT_EQ(w.floor_vs_fio, 1.0);
  EXPECT_FALSE(w.floor_vs_ceiling.has_value());
  EXPECT_FALSE(w.floor_round_vs_ceiling.has_value());
  nlohmann::json j = good();
  j["workloads"][0] = {{"name", "w"}, {"op", "write"}, {"size", "1M"}, {"floor_round_vs_ceiling", 0.85}};
  EXPECT_EQ(parse_profile(j, "p.json").workloads[0].floor_round_vs_ceiling, 0.85);  // a floor on its own
}

TEST(Profile, RefusesWhatIsWrongAndSaysWhere) {
  struct Case {
    const char* pointer;  // JSON pointer to change
    nlohmann::json value;
    const char* message;
  };
  const Case cases[] = {
      {"/workloads/0/blok_size", "1M", "workloads[0] (w): unknown key 'blok_size'"},
      {"/workloads/0/size", "12Q", "workloads[0] (w).size: size '12Q' is invalid"},
      {"/workloads/0/size", 0, "size: 0 moves nothing"},
      {"/workloads/0/block_size", "0", "block_size 0 is invalid"},
      {"/workloads/0/op", "append", "'append' is not read, write or step"},
      {"/workloads/0/queue_depth", 0, "queue_depth: expected a whole number from 1"},
      {"/workloads/0/processes", -1, "processes: expected a whole number"},
      {"/workloads/0/engine", "spdk", "engine 'spdk' is unknown"},
      {"/workloads/0/floor_vs_fio", -1, "floor_vs_fio: expected a number >= 0"},
      {"/workloads/0/floor_round_vs_ceiling", "most", "floor_round_vs_ceiling: expected a number >= 0"},
      {"/workloads/0/loops", 0, "loops: expected a whole number from 1"},
      {"/workloads/0/warmup_loops", -1, "warmup_loops: expected a whole number"},
      {"/workloads/0/handle", "yes", "handle: expected true or false"},
      {"/workloads/0/device", "tpu", "device: 'tpu' is not cuda, cuda:N or emulated"},
      {"/rounds", 0, "rounds: expected a whole number"},
      {"/colour", "red", "unknown key 'colour'"},
      {"/workloads", nlohmann::json::array(), "'workloads' must be a non-empty list"},
  };
  for (const Case& c : cases) {
    nlohmann::json j = good();
    j[nlohmann::json::json_pointer(c.pointer)] = c.value;
    const std::string why = refusal(j);
    EXPECT_NE(why.find(c.message), std::string::npos) << c.pointer << ": " << why;
    EXPECT_NE(why.find("profile p.json"), std::string::npos) << why;
  }
}

TEST(Profile, RefusesAWorkloadWithoutAFloorOrAName) {
  nlohmann::json j = good();
  j["workloads"][0].erase("floor_gib_per_s");
  j["workloads"][0].erase("floor_vs_fio");
  EXPECT_NE(refusal(j).find("no floor"), std::string::npos) << refusal(j);
  j = good();
  j["workloads"][0].erase("name");
  EXPECT_NE(refusal(j).find("'name' is missing"), std::string::npos) << refusal(j);
  j = good();
  j["workloads"].push_back(j["workloads"][0]);
  EXPECT_NE(refusal(j).find("two workloads are named 'w'"), std::string::npos) << refusal(j);
}

TEST(Profile, FilesThatAreNotJsonOrMissingAreNamed) {
  TempDir dir;
  const std::string bad = dir.file("bad.json");
  std::ofstream(bad) << "{ \"name\": ";
  try {
    cli::load_profile(bad);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
  }
  EXPECT_THROW(cli::load_profile(dir.file("missing.json")), ConfigError);
  // A number no double holds is an error of the profile, not an escaped nlohmann exception
  // (found by fuzz_profile).
  try {
    cli::parse_profile_text(R"({"name":"x","workloads":[{"name":"w","op":"read","size":"1G","floor_vs_fio":1e400}]})", "big.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("profile big.json: not valid JSON"), std::string::npos) << e.what();
  }
}

// A workload's loops reach the bench command that measures it, and only that one: the write
// that lays out a read's file runs once.
TEST(Profile, LoopsReachTheMeasuringCommandOnly) {
  nlohmann::json j = good();
  j["workloads"][0] = {{"name", "r"}, {"op", "read"}, {"size", "1M"}, {"loops", 3}, {"warmup_loops", 1}, {"floor_gib_per_s", 0}};
  const cli::Workload w = parse_profile(j, "p.json").workloads[0];
  EXPECT_EQ(w.loops, 3u);
  EXPECT_EQ(w.warmup_loops, 1u);
  cli::FloorOptions o;
  o.swapio = "swapio";
  const auto has = [](const std::vector<std::string>& a, const std::string& flag, const std::string& value) {
    const auto it = std::find(a.begin(), a.end(), flag);
    return it != a.end() && it + 1 != a.end() && *(it + 1) == value;
  };
  const std::vector<std::string> measure = cli::swapio_bench_args(o, w, Engine::automatic, false, {"/f"}, 1);
  EXPECT_TRUE(has(measure, "--loops", "3"));
  EXPECT_TRUE(has(measure, "--warmup-loops", "1"));
  EXPECT_TRUE(has(measure, "--folder", "/f"));
  const std::vector<std::string> prepare = cli::swapio_bench_args(o, w, Engine::automatic, true, {"/f"}, 1);
  EXPECT_EQ(std::find(prepare.begin(), prepare.end(), "--loops"), prepare.end());
  EXPECT_EQ(std::find(prepare.begin(), prepare.end(), "--warmup-loops"), prepare.end());
  // Defaults: one timed loop, none before it.
  j["workloads"][0].erase("loops");
  j["workloads"][0].erase("warmup_loops");
  const cli::Workload d = parse_profile(j, "p.json").workloads[0];
  EXPECT_EQ(d.loops, 1u);
  EXPECT_EQ(d.warmup_loops, 0u);
}

TEST(Profile, EveryShippedProfileLoads) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(SWAPIO_PROFILES_DIR)) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    const cli::Profile p = cli::load_profile(entry.path().string());
    EXPECT_FALSE(p.workloads.empty());
    ++n;
  }
  EXPECT_GE(n, 1);
}

// Any knob of the table can be a workload's, by its key.
TEST(Profile, AWorkloadSetsAnyKnob) {
  nlohmann::json j = good();
  j["workloads"][0]["single_submit"] = true;
  j["workloads"][0]["overlap_events"] = false;
  j["workloads"][0]["direct"] = "on";
  j["workloads"][0]["device_chunks"] = 4;
  const cli::Workload w = parse_profile(j, "p.json").workloads.at(0);
  EXPECT_TRUE(w.config.single_submit);
  EXPECT_FALSE(w.config.overlap_events);
  EXPECT_EQ(w.config.direct, DirectMode::on);
  EXPECT_EQ(w.config.device_chunks, 4u);
  j["workloads"][0]["device_chunks"] = 1;
  EXPECT_NE(refusal(j).find("workloads[0] (w).device_chunks: expected a whole number from 2 to 4096"), std::string::npos)
      << refusal(j);
  j["workloads"][0]["device_chunks"] = 4;
  j["workloads"][0]["op"] = "read";
  j["workloads"][0]["sync"] = true;
  EXPECT_NE(refusal(j).find("sync applies to writes"), std::string::npos) << refusal(j);
}

// qualify --gpus: each GPU workload once per GPU, host and emulated ones once.
TEST(Profile, GpuWorkloadsExpandOverTheGpusNamed) {
  const auto p = parse_profile(nlohmann::json::parse(R"({
    "name": "g", "workloads": [
      { "name": "host", "op": "write", "size": "64M", "floor_gib_per_s": 1 },
      { "name": "gpu-w", "op": "write", "size": "64M", "device": "cuda", "floor_gib_per_s": 1 },
      { "name": "emu", "op": "read", "size": "64M", "device": "emulated", "floor_gib_per_s": 1 },
      { "name": "gpu-r", "op": "read", "size": "64M", "device": "cuda:3", "floor_gib_per_s": 1 } ] })"), "t");
  const auto e = cli::expand_gpu_workloads(p, cli::parse_gpu_list("all", 2, ""));
  std::vector<std::string> names, devices;
  for (const auto& w : e.workloads) {
    names.push_back(w.name);
    devices.push_back(w.device);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"host", "gpu-w@cuda:0", "gpu-w@cuda:1", "emu", "gpu-r@cuda:0", "gpu-r@cuda:1"}));
  EXPECT_EQ(devices, (std::vector<std::string>{"", "cuda:0", "cuda:1", "emulated", "cuda:0", "cuda:1"}));
  EXPECT_EQ(cli::parse_gpu_list("2,0,2", 4, ""), (std::vector<int>{2, 0}));
  const auto refused = [](const std::string& list, int visible, const std::string& needle) {
    try {
      (void)cli::parse_gpu_list(list, visible, "no NVIDIA driver is installed");
      ADD_FAILURE() << list << " accepted";
    } catch (const ConfigError& err) {
      EXPECT_NE(std::string(err.what()).find(needle), std::string::npos) << err.what();
    }
  };
  refused("all", 0, "no CUDA device is visible (no NVIDIA driver is installed)");
  refused("0,5", 2, "GPU 5 is not visible (2 visible: 0..1)");
  refused("0,x", 2, "'x' is not a GPU number");
  refused(",", 2, "is not a GPU number");
  const auto host_only = parse_profile(nlohmann::json::parse(R"({"name": "h", "workloads": [
      { "name": "host", "op": "write", "size": "64M", "floor_gib_per_s": 1 } ] })"), "t");
  EXPECT_THROW((void)cli::expand_gpu_workloads(host_only, {0}), ConfigError);
}

}  // namespace
}  // namespace swapio::test
