// `swapio bench` runs end to end: several processes, folders, validation of the content, the
// emulated GPU path, and the figures, memory layout and facts its reports carry.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "cli_fixture.hpp"
#include "support.hpp"

namespace swapio::test {
namespace {

TEST_F(Cli, SeveralProcessesWriteThenReadWithValidation) {
  const std::string w = dir_.file("t");
  std::ofstream(w + ".0") << std::string(5 << 20, 'x');  // an earlier, larger run: replaced, not appended to
  Outcome o = run({"bench", "--write-file", w, "--write-size", "3M", "--handle", "--io-parallel", "2", "--threads", "3",
                   "--validate", "--loops", "2", "--block-size", "256K"});
  ASSERT_EQ(o.status, 0) << o.err;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(file_size(w + "." + std::to_string(i)), 3u << 20) << "process " << i;
  for (const char* line : {"^Task Write Latency = [0-9]+\\.[0-9]+ sec$", "^Task Write Speed = [0-9]+\\.[0-9]+ GB/sec$",
                           "^E2E Write Latency = [0-9]+\\.[0-9]+ sec$", "^E2E Write Speed = [0-9]+\\.[0-9]+ GB/sec$"}) {
    EXPECT_TRUE(std::regex_search(o.out, std::regex(line, std::regex::multiline))) << line << "\n" << o.out;
  }
  EXPECT_NE(o.out.find("validation: passed"), std::string::npos) << o.out;

  o = run({"bench", "--read-file", w + ".0", "--handle", "--threads", "2", "--validate", "--single-submit",
           "--sequential-requests", "--warmup-loops", "1"});
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_TRUE(std::regex_search(o.out, std::regex("^Task Read Speed = [0-9.]+ GB/sec$", std::regex::multiline))) << o.out;
  EXPECT_NE(o.out.find("validation: passed"), std::string::npos) << o.out;
}

// A read's --validate checks the content, not only that two reads agree: a file swapio wrote is
// checked byte by byte against its pattern and a damaged byte is named with its offset (basic,
// Handle with 2 processes, the emulated GPU); a file of other bytes is compared with a second
// read, and the report says which check ran.
TEST_F(Cli, ReadValidationChecksTheContent) {
  Outcome o = run({"bench", "--write-file", "v", "--write-size", "8M"});
  ASSERT_EQ(o.status, 0) << o.err;
  o = run({"bench", "--read-file", "v.0", "--validate", "--json"});
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(nlohmann::json::parse(o.out).at("phases")[0].at("validation"), nlohmann::json::array({"pattern"})) << o.out;
  {
    std::fstream f(dir_.file("v.0"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(5000123);
    f.put('\xff');
  }
  for (const std::vector<std::string>& extra : std::vector<std::vector<std::string>>{
           {}, {"--handle", "--threads", "2", "--engine", "aio"}, {"--gpu", "--device", "emulated"}}) {
    std::vector<std::string> args = {"bench", "--read-file", "v.0", "--validate"};
    args.insert(args.end(), extra.begin(), extra.end());
    o = run(args);
    EXPECT_EQ(o.status, 1) << "a damaged file passed validation with" << testing::PrintToString(extra);
    EXPECT_NE(o.err.find("first difference from swapio's pattern (seed 1) at file offset 5000123"), std::string::npos) << o.err;
    EXPECT_NE(o.err.find("the data on storage differs"), std::string::npos) << o.err;
  }
  std::vector<std::byte> other(3 << 20);
  fill_pattern(other, 0, 99);  // not swapio's pattern
  write_plain(dir_.file("other"), other);
  o = run({"bench", "--read-file", "other", "--validate"});
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("a second, buffered read gave the same bytes"), std::string::npos) << o.out;
  o = run({"bench", "--write-file", "w", "--write-size", "1M", "--validate"});
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("an independent buffered read of the file matches the bytes written"), std::string::npos) << o.out;
}

// A write set spread over folders is read back by its per-process name, x.{i}: process i reads
// folder (i mod n)/x.i, each checked against the pattern its writer wrote.
TEST_F(Cli, AWriteSetIsReadBackByItsPerProcessName) {
  std::filesystem::create_directory(dir_.file("fa"));
  std::filesystem::create_directory(dir_.file("fb"));
  Outcome o = run({"bench", "--write-file", "x", "--folder", "fa", "--folder", "fb", "--threads", "2", "--write-size", "2M"});
  ASSERT_EQ(o.status, 0) << o.err;
  o = run({"bench", "--read-file", "x.{i}", "--folder", "fa", "--folder", "fb", "--threads", "2", "--validate", "--json"});
  ASSERT_EQ(o.status, 0) << o.err;
  const nlohmann::json ph = nlohmann::json::parse(o.out).at("phases")[0];
  EXPECT_EQ(ph.at("processes")[0].at("path"), "fa/x.0");
  EXPECT_EQ(ph.at("processes")[1].at("path"), "fb/x.1");
  EXPECT_EQ(ph.at("validation"), nlohmann::json::array({"pattern"}));
  EXPECT_EQ(ph.at("validated"), true);
  // Without folders, and a set larger than what was written: refused up front, naming the file.
  o = run({"bench", "--write-file", "w", "--threads", "3", "--write-size", "1M"});
  ASSERT_EQ(o.status, 0) << o.err;
  o = run({"bench", "--read-file", "w.{i}", "--threads", "3", "--validate"});
  EXPECT_EQ(o.status, 0) << o.err;
  o = run({"bench", "--read-file", "w.{i}", "--threads", "4"});
  EXPECT_EQ(o.status, 2) << o.err;
  EXPECT_NE(o.err.find("--read-file w.3: No such file or directory"), std::string::npos) << o.err;
  // {i} in a write file's name names process i's file (DeepSpeed's ds_io names them so).
  o = run({"bench", "--write-file", "y.{i}_0", "--threads", "2", "--write-size", "1M"});
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_TRUE(std::filesystem::exists(dir_.file("y.0_0")) && std::filesystem::exists(dir_.file("y.1_0")));
  EXPECT_FALSE(std::filesystem::exists(dir_.file("y.{i}_0.0")));
  o = run({"bench", "--write-file", "d{i}/y", "--write-size", "1M"});
  EXPECT_EQ(o.status, 2) << o.err;
  EXPECT_NE(o.err.find("{i} may stand only in the file's name"), std::string::npos) << o.err;
}

// Durable writes from the command line: synced, replaced whole, no temporary left behind.
TEST_F(Cli, SyncAndAtomicReplace) {
  const std::string w = dir_.file("d");
  std::ofstream(w + ".0") << std::string(5 << 20, 'x');  // larger than the new content
  const Outcome o = run({"bench", "--write-file", w, "--write-size", "1M", "--atomic-replace", "--sync", "--validate",
                         "--loops", "2", "--block-size", "256K", "--json"});
  ASSERT_EQ(o.status, 0) << o.err;
  const auto j = nlohmann::json::parse(o.out);
  EXPECT_EQ(j.at("config").at("sync"), true) << o.out;
  EXPECT_EQ(j.at("config").at("atomic_replace"), true) << o.out;
  EXPECT_EQ(file_size(w + ".0"), 1u << 20);
  EXPECT_EQ(files(), std::vector<std::string>{"d.0"}) << "a temporary file was left behind";
}

// The GPU path end to end on the emulated device: several processes, a folder-to-device mapping,
// both APIs, validation, and the device named in the JSON report.
TEST_F(Cli, GpuPathRunsOnTheEmulatedDevice) {
  std::filesystem::create_directory(dir_.file("a"));
  std::filesystem::create_directory(dir_.file("b"));
  Outcome o = run({"bench", "--write-file", "t", "--write-size", "3M", "--threads", "2", "--gpu", "--device", "emulated",
                   "--folder-to-device-mapping", dir_.file("a") + ":0", dir_.file("b") + ":1", "--device-chunk-size", "256K",
                   "--device-chunks", "3", "--block-size", "64K", "--validate", "--json"});
  ASSERT_EQ(o.status, 0) << o.err;
  nlohmann::json j = nlohmann::json::parse(o.out);
  EXPECT_EQ(j.at("config").at("gpu"), true);
  EXPECT_EQ(j.at("config").at("device_chunks"), 3);
  const auto& procs = j.at("phases")[0].at("processes");
  ASSERT_EQ(procs.size(), 2u);
  EXPECT_EQ(procs[0].at("device"), "emulated");
  EXPECT_EQ(procs[0].at("path"), dir_.file("a") + "/t.0");
  EXPECT_EQ(procs[1].at("path"), dir_.file("b") + "/t.1");
  EXPECT_EQ(j.at("phases")[0].at("validated"), true);
  EXPECT_EQ(file_size(dir_.file("a") + "/t.0"), 3u << 20);
  EXPECT_EQ(file_size(dir_.file("b") + "/t.1"), 3u << 20);

  o = run({"bench", "--read-file", dir_.file("a") + "/t.0", "--handle", "--io-parallel", "2", "--gpu", "--device",
           "emulated", "--validate", "--loops", "2"});
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("tensor in device memory (emulated)"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("validation: passed"), std::string::npos) << o.out;
}

// Each process's I/O memory layout is in the table and the JSON: a HostBuffer tensor is in 2 MiB
// pieces, a staged one is named as the staging ring.
TEST_F(Cli, BenchReportsTheLayoutOfItsIOMemory) {
  if (!huge_pages_possible()) GTEST_SKIP() << "no transparent huge pages on this kernel";
  Outcome o = run({"bench", "--write-file", dir_.file("m"), "--write-size", "8M", "--threads", "2", "--json"});
  ASSERT_EQ(o.status, 0) << o.err;
  const nlohmann::json layout = nlohmann::json::parse(o.out).at("phases")[0].at("memory_layout");
  ASSERT_EQ(layout.at("processes").size(), 2u);
  for (const auto& p : layout.at("processes")) {
    EXPECT_EQ(p.at("memory"), "tensor");
    ASSERT_TRUE(p.at("source") == "pagemap" || p.at("source") == "smaps") << p;
    EXPECT_GE(p.at("contiguous_2m").get<double>(), 0.99) << p;
    if (p.at("source") == "pagemap") {
      EXPECT_LE(p.at("worst_segments_per_mib").get<int>(), 2) << p;
    }
  }
  EXPECT_GE(layout.at("contiguous_2m").get<double>(), 0.99);
  EXPECT_TRUE(layout.at("warnings").empty()) << layout;
  EXPECT_EQ(o.err.find("warning"), std::string::npos) << o.err;

  o = run({"bench", "--read-file", dir_.file("m.0"), "--staging", "always"});
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("  I/O memory: swapio's staging ring (--staging always)"), std::string::npos) << o.out;
  o = run({"bench", "--read-file", dir_.file("m.0")});
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_TRUE(std::regex_search(o.out, std::regex("  I/O memory: (about )?100% physically contiguous in >= 2 MiB pieces")))
      << o.out;
}

TEST_F(Cli, JsonReportHasEveryFigureAndTheConfiguration) {
  const Outcome o = run({"bench", "--write-file", dir_.file("j"), "--write-size", "2M", "--threads", "2", "--loops", "3",
                         "--validate", "--json", "--block-size", "512K"});
  ASSERT_EQ(o.status, 0) << o.err;
  const nlohmann::json j = nlohmann::json::parse(o.out);  // the whole of stdout is one document
  EXPECT_EQ(j.at("swapio_bench"), 1);
  for (const char* key : {"read_file", "write_file", "write_size", "folders", "threads", "handle", "loops", "warmup_loops",
                          "validate", "gpu", "block_size", "queue_depth", "single_submit", "overlap_events",
                          "io_parallel", "engine", "direct"}) {
    EXPECT_TRUE(j.at("config").contains(key)) << key;
  }
  ASSERT_EQ(j.at("phases").size(), 1u);
  const auto& ph = j.at("phases")[0];
  EXPECT_EQ(ph.at("op"), "write");
  EXPECT_EQ(ph.at("processes").size(), 2u);
  ASSERT_EQ(ph.at("loops").size(), 3u);
  for (const auto& l : ph.at("loops")) {
    EXPECT_EQ(l.at("bytes"), 2u * (2u << 20));
    EXPECT_GT(l.at("task_latency_s").get<double>(), 0);
    EXPECT_GE(l.at("e2e_latency_s").get<double>(), l.at("task_latency_s").get<double>());
    EXPECT_GT(l.at("task_gib_per_s").get<double>(), 0);
    EXPECT_GT(l.at("e2e_gib_per_s").get<double>(), 0);
  }
  const auto& agg = ph.at("aggregate");
  EXPECT_EQ(agg.at("bytes"), 3u * 2u * (2u << 20));
  for (const char* key : {"task_latency_s", "task_gib_per_s", "e2e_latency_s", "e2e_gib_per_s"}) {
    EXPECT_GT(agg.at(key).get<double>(), 0) << key;
  }
  const auto& lat = ph.at("latency_us");
  EXPECT_EQ(lat.at("requests"), 3u * 2u * 4u);
  EXPECT_LE(lat.at("p50").get<double>(), lat.at("p99").get<double>());
  EXPECT_LE(lat.at("p99").get<double>(), lat.at("p99.9").get<double>());
  EXPECT_LE(lat.at("p99.9").get<double>(), lat.at("max").get<double>() * 1.0001);
  for (const char* key : {"submit_seconds", "reap_seconds", "cpu_seconds", "cpu_seconds_per_gib"}) {
    EXPECT_TRUE(ph.at(key).is_number()) << key;
  }
  EXPECT_TRUE(ph.at("engine") == "uring" || ph.at("engine") == "aio" || ph.at("engine") == "psync") << ph.at("engine");
  EXPECT_TRUE(ph.at("direct").is_boolean());
  EXPECT_EQ(ph.at("validated"), true);
}

TEST_F(Cli, FoldersSpreadTheProcesses) {
  std::filesystem::create_directory(dir_.file("a"));
  std::filesystem::create_directory(dir_.file("b"));
  const Outcome o = run({"bench", "--write-file", "f", "--write-size", "1M", "--threads", "3", "--folder", dir_.file("a"),
                         "--folder", dir_.file("b")});
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_TRUE(std::filesystem::exists(dir_.file("a/f.0")));
  EXPECT_TRUE(std::filesystem::exists(dir_.file("b/f.1")));
  EXPECT_TRUE(std::filesystem::exists(dir_.file("a/f.2")));
}

TEST_F(Cli, QuickRunsAShortBenchAndCleansUp) {
  const Outcome o = run({"bench", "--quick", "--write-size", "8M"});
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("Task Write Speed"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("Task Read Speed"), std::string::npos) << o.out;
  EXPECT_TRUE(files().empty()) << "--quick left " << files().size() << " file(s)";
}

// --json reports carry the schema version and the run's facts; --json with bad input is a JSON
// error document on stdout as well as one line on stderr.
TEST_F(Cli, JsonReportsCarryTheirSchemaAndFacts) {
  Outcome o = run({"bench", "--write-file", "x", "--write-size", "4095", "--json"});
  ASSERT_EQ(o.status, 0) << o.err;
  const nlohmann::json j = nlohmann::json::parse(o.out);
  EXPECT_EQ(j.at("schema_version"), 1);
  const nlohmann::json& f = j.at("facts");
  EXPECT_FALSE(f.at("host").get<std::string>().empty());
  EXPECT_EQ(f.at("kernel").get<std::string>().rfind("Linux ", 0), 0u) << f.at("kernel");
  EXPECT_TRUE(std::regex_match(f.at("time").get<std::string>(), std::regex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z")));
  EXPECT_FALSE(f.at("swapio").at("version").get<std::string>().empty());
  ASSERT_EQ(f.at("folders").size(), 1u);
  EXPECT_FALSE(f.at("folders")[0].at("filesystem").get<std::string>().empty()) << f.dump();
  // A 4095-byte file moves wholly through the buffered edges: not O_DIRECT; one request: p50 is max.
  const nlohmann::json& ph = j.at("phases")[0];
  EXPECT_EQ(ph.at("direct"), false) << ph.dump();
  EXPECT_EQ(ph.at("latency_us").at("requests"), 1);
  EXPECT_EQ(ph.at("latency_us").at("p50"), ph.at("latency_us").at("max"));
  o = run({"bench", "--write-file", "x", "--write-size", "4095"});
  EXPECT_NE(o.out.find("4095 B (4.00 KiB) per process"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("O_DIRECT no"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("(1 request, "), std::string::npos) << o.out;

  o = run({"bench", "--write-file", "y", "--write-size", "1.5M", "--json"});
  EXPECT_EQ(o.status, 2);
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  const nlohmann::json e = nlohmann::json::parse(o.out);
  EXPECT_EQ(e.at("schema_version"), 1);
  EXPECT_EQ(e.at("error").at("exit_status"), 2);
  EXPECT_NE(e.at("error").at("message").get<std::string>().find("fractions are not accepted"), std::string::npos);
  o = run({"bench", "--no-such-flag", "--json"});
  EXPECT_EQ(o.status, 2);
  EXPECT_EQ(nlohmann::json::parse(o.out).at("error").at("kind"), "bad-arguments");
}

}  // namespace
}  // namespace swapio::test
