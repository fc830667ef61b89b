// Options that matter only beside another one: given without it, or beside one that makes them
// moot, the command would run and ignore them. Each is refused (one line naming both options,
// exit status 2, nothing created), and the combinations that do count still run.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_fixture.hpp"

namespace swapio::test {
namespace {

TEST_F(Cli, QualifyFleetTimeoutNeedsFleet) {
  expect_refused({
      {{"qualify", "--fleet-timeout", "5"}, "swapio qualify: --fleet-timeout needs --fleet"},
      {{"qualify", "--fleet-timeout", "5", "--folder", dir_.path(), "--junit", dir_.file("q.xml")},
       "--fleet-timeout needs --fleet"},
  });
}

// Without --gpu, bench's own memory goes through the staging ring only with --staging always:
// the ring's shape alone would change nothing.
TEST_F(Cli, BenchDeviceChunksNeedAStagingRing) {
  const std::string w = dir_.file("w");
  expect_refused({
      {{"bench", "--write-file", w, "--write-size", "1M", "--device-chunk-size", "256K"},
       "swapio bench: --device-chunk-size needs --gpu or --staging always"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--device_chunks", "4"},
       "--device-chunks needs --gpu or --staging always"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--device-chunks", "4", "--staging", "never"},
       "--device-chunks needs --gpu or --staging always"},
  });
  const Outcome o = run({"bench", "--write-file", w, "--write-size", "1M", "--block-size", "64K", "--device-chunks",
                         "3", "--device-chunk-size", "128K", "--staging", "always", "--validate", "--json"});
  ASSERT_EQ(o.status, 0) << o.err;
  const nlohmann::json j = nlohmann::json::parse(o.out);
  EXPECT_EQ(j.at("config").at("device_chunks"), 3);
  EXPECT_EQ(j.at("config").at("device_chunk_size"), 128 * 1024);
}

// A GPU's bytes always go through the ring: --staging (host memory's choice) would be ignored.
TEST_F(Cli, BenchStagingIsNotForAGpu) {
  const std::string w = dir_.file("w");
  expect_refused({
      {{"bench", "--write-file", w, "--write-size", "1M", "--gpu", "--device", "emulated", "--staging", "always"},
       "swapio bench: --staging always and --gpu"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--gpu", "--device", "emulated", "--staging", "never"},
       "--staging never and --gpu"},
  });
}

// ds_io runs one process per mapping entry, as DeepSpeed's does; another count asked for with
// --multi_process is refused, the same count accepted.
TEST_F(Cli, DsIoMultiProcessMatchesTheMapping) {
  std::filesystem::create_directory(dir_.file("a"));
  std::filesystem::create_directory(dir_.file("b"));
  const std::string a = dir_.file("a") + ":0", b = dir_.file("b") + ":1";
  expect_refused({
      {{"ds_io", "--folder_to_device_mapping", a, b, "--io_size", "1M", "--multi_process", "3"},
       "swapio ds_io: --multi_process 3 and --folder_to_device_mapping of 2 entries"},
      {{"ds_io", "--folder_to_device_mapping", a, b, "--io_size", "1M", "--multi_process", "1", "--read"},
       "--multi_process 1 and --folder_to_device_mapping of 2 entries"},
  });
  const Outcome o = run({"ds_io", "--folder_to_device_mapping", a, b, "--io_size", "1M", "--multi_process", "2",
                         "--validate", "--loops", "1", "--warmup_loops", "0"});
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_TRUE(std::filesystem::exists(dir_.file("b/_aio_write_1048576.pt.1_0"))) << o.out;
}

// qualify runs bench as a user would: a GPU workload's staging settings go only where they
// count (the write that lays out its file has no GPU; its own run no host staging).
TEST_F(Cli, QualifyPassesBenchOnlyTheSettingsEachRunUses) {
  std::filesystem::create_directory(dir_.file("q"));
  const std::string p = dir_.file("gpu.json");
  std::ofstream(p) << R"({"name": "gpu", "rounds": 1, "workloads": [
      {"name": "g", "op": "read", "size": "2M", "device": "emulated", "device_chunks": 3, "floor_gib_per_s": 0},
      {"name": "s", "op": "read", "size": "2M", "device": "emulated", "staging": "always", "floor_gib_per_s": 0}]})";
  const Outcome o = run({"qualify", "--profile", p, "--folder", dir_.file("q")});
  EXPECT_EQ(o.status, 0) << o.out << o.err;
  EXPECT_NE(o.out.find("verdict: PASS (2 of 2 floors met"), std::string::npos) << o.out;
}

}  // namespace
}  // namespace swapio::test
