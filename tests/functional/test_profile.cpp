// Node profiles: every shipped profile loads; bad ones are refused with the file, the workload
// and the key named.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <regex>
#include <set>
#include <filesystem>
#include <fstream>

#include "bench/bench_phase.hpp"
#include "common/knob_options.hpp"
#include "common/report_text.hpp"
#include "qualify/fleet.hpp"
#include "qualify/fleet_progress.hpp"
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
      {"/workloads/0/op", "append", "'append' is not read or write"},
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

// The bench report's memory layout: below kLowContiguity a warning that names the process, the
// share, where it was read and what it costs; above it nothing; the line for people says which.
TEST(BenchReport, ALowIOMemoryLayoutIsWarnedAbout) {
  const nlohmann::json scattered = {{"memory", "tensor"}, {"source", "pagemap"}, {"contiguous_2m", 0.004},
                                    {"huge_pages", 0.0}, {"worst_segments_per_mib", 256}};
  const std::string w = cli::layout_warning(3, scattered);
  EXPECT_NE(w.find("process 3: only 0.4% of its I/O memory is physically contiguous in 2 MiB pieces"), std::string::npos) << w;
  EXPECT_NE(w.find("up to 256 segments per MiB"), std::string::npos) << w;
  EXPECT_NE(w.find("split"), std::string::npos) << w;
  const nlohmann::json from_smaps = {{"memory", "tensor"}, {"source", "smaps"}, {"contiguous_2m", 0.5}, {"huge_pages", 0.5}};
  EXPECT_NE(cli::layout_warning(0, from_smaps).find("only 50%"), std::string::npos);
  EXPECT_NE(cli::layout_warning(0, from_smaps).find("physical addresses need root"), std::string::npos);
  EXPECT_EQ(cli::layout_warning(0, {{"memory", "tensor"}, {"source", "pagemap"}, {"contiguous_2m", 0.95}}), "");
  EXPECT_EQ(cli::layout_warning(0, {{"memory", "staging ring (--staging always)"}, {"source", nullptr}}), "");

  const nlohmann::json good_layout = {
      {"contiguous_2m", 1.0},
      {"processes", {{{"memory", "tensor"}, {"source", "pagemap"}, {"contiguous_2m", 1.0}, {"worst_segments_per_mib", 1}}}}};
  EXPECT_EQ(cli::layout_line(good_layout), "100% physically contiguous in >= 2 MiB pieces; at most 1 segment per MiB (pagemap)");
  const nlohmann::json staged = {{"contiguous_2m", nullptr},
                                 {"processes", {{{"memory", "staging ring (--staging always)"}, {"source", nullptr}}}}};
  EXPECT_NE(cli::layout_line(staged).find("swapio's staging ring"), std::string::npos) << cli::layout_line(staged);
}

// A report is written whole or not at all: one that does not fit leaves the earlier report as it
// was, an error with the errno, and no temporary; one written through a link replaces the file
// the link names.
TEST(Reports, AFailedWriteKeepsTheEarlierReport) {
  TempDir dir;
  ScratchMount small(dir.path(), "small", "tmpfs", "size=1m");
  if (!small.ok()) GTEST_SKIP() << small.why_not();
  const std::string path = small.path() + "/report.json";
  cli::write_report(path, "earlier\n");
  try {
    cli::write_report(path, std::string(4u << 20, 'x'));  // more than the filesystem holds
    ADD_FAILURE() << "a 4 MiB report fitted in a 1 MiB filesystem";
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), ENOSPC) << e.what();
  }
  std::ifstream in(path);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "earlier\n");
  std::size_t entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(small.path())) entries += entry.path() != path ? 1 : 0;
  EXPECT_EQ(entries, 0u) << "a temporary was left beside the report";

  const std::string link = dir.path() + "/link.json";
  std::filesystem::create_symlink(path, link);
  cli::write_report(link, "through the link\n");
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  std::ifstream again(path);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(again), {}), "through the link\n");
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

// The command's knob options parsed from argv into a default Config (apply's errors thrown).
Config parse_knobs(std::vector<std::string> argv) {
  CLI::App app;
  cli::KnobArgs args;
  cli::add_knob_options(app, args);
  std::reverse(argv.begin(), argv.end());  // CLI11 parses a reversed vector
  app.parse(argv);
  Config c;
  cli::apply_knob_options(args, c);
  return c;
}

// The argv the perf suite and qualify build for `swapio bench` sets, through the command's own
// options, exactly the configuration it was made from; and the JSON a worker gets reads back.
TEST(Knobs, CommandLineAndJsonRoundTrip) {
  Config c;
  c.block_size = 8 * kMiB;
  c.queue_depth = 8;
  c.single_submit = true;
  c.overlap_events = false;
  c.intra_op_parallelism = 2;
  c.engine = Engine::aio;
  c.staging = StageMode::always;
  c.device_chunk_size = 4097;
  c.sync = true;
  c.register_files = false;
  c.register_buffers = true;
  const std::vector<std::string> argv = cli::knob_argv(c);
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--no-register-files"), argv.end());
  EXPECT_EQ(cli::knob_argv(Config{}), std::vector<std::string>{}) << "defaults need no argument";
  EXPECT_EQ(cli::knobs_to_json(parse_knobs(argv)), cli::knobs_to_json(c));
  EXPECT_EQ(cli::knobs_to_json(cli::config_from_json(cli::knobs_to_json(c))), cli::knobs_to_json(c));
}

TEST(Knobs, CommandLineErrorsNameTheFlag) {
  const auto refusal = [](const std::vector<std::string>& argv) -> std::string {
    try {
      (void)parse_knobs(argv);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_EQ(refusal({"--block-size", "0"}), "--block-size 0: block_size 0 is invalid: it must be at least 1 byte");
  EXPECT_NE(refusal({"--queue_depth", "0x20"}).find("--queue-depth 0x20: '0x20' is not a whole decimal number"),
            std::string::npos);
  EXPECT_NE(refusal({"--overlap-events", "--sequential-requests"}).find("contradict"), std::string::npos);
  EXPECT_EQ(refusal({"--sequential_requests", "--io-parallel", "4"}), "(accepted)");
  EXPECT_NE(refusal({"--register-files", "--no-register-files"}).find("contradict"), std::string::npos);
}

// A flag knob given with a value means that value; its off spelling the opposite.
TEST(Knobs, FlagValuesAreHonoured) {
  const auto parsed = [](const std::vector<std::string>& argv) { return parse_knobs(argv); };
  EXPECT_FALSE(parsed({"--register-files=false"}).register_files);
  EXPECT_FALSE(parsed({"--no-register-files"}).register_files);
  EXPECT_TRUE(parsed({}).register_files);
  EXPECT_TRUE(parsed({"--overlap-events=true"}).overlap_events);
  EXPECT_FALSE(parsed({"--overlap-events=false"}).overlap_events);
  EXPECT_TRUE(parsed({"--single-submit"}).single_submit);
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

// --- the fleet report -------------------------------------------------------------------------

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
