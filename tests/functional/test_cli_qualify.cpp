// `swapio qualify` on its floors: absolute and against a ceiling tool, its table, verdict, JSON and
// JUnit reports, a failed program, a memory filesystem, and the input it refuses.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "cli_fixture.hpp"
#include "support.hpp"
#include "swapio/device.hpp"
#include "xml_check.hpp"

namespace swapio::test {
namespace {

// swapio qualify with absolute floors (no fio needed): a floor of 0 passes, one no disk reaches
// fails; the table, the verdict, the JSON report and the JUnit file say the same.
TEST_F(Cli, QualifyReportsEachFloorAndAVerdict) {
  std::filesystem::create_directory(dir_.file("q"));
  const auto profile = [&](const std::string& name, double floor) {
    const std::string path = dir_.file(name + ".json");
    std::ofstream(path) << nlohmann::json{
        {"name", name},
        {"rounds", 1},
        {"workloads",
         {{{"name", "w"}, {"op", "write"}, {"size", "4M"}, {"floor_gib_per_s", floor}},
          {{"name", "r"}, {"op", "read"}, {"size", "4M"}, {"block_size", "256K"}, {"floor_gib_per_s", floor}},
          {{"name", "g"}, {"op", "read"}, {"size", "4M"}, {"device", "emulated"}, {"floor_gib_per_s", floor}}}}};
    return path;
  };
  Outcome o = run({"qualify", "--profile", profile("easy", 0), "--folder", dir_.file("q"), "--json", dir_.file("easy.out"),
                   "--junit", dir_.file("easy.xml")});
  EXPECT_EQ(o.status, 0) << o.out << o.err;
  // The memory column: host tensors' layout as measured; the GPU tensor's requests move the staging ring.
  EXPECT_TRUE(std::regex_search(o.out, std::regex("^w +write +direct +[0-9]+% +[0-9.]+ +0.00 +absolute +PASS$", std::regex::multiline))) << o.out;
  EXPECT_TRUE(std::regex_search(o.out, std::regex("^r +read +direct +[0-9]+% +[0-9.]+ +0.00 +absolute +PASS$", std::regex::multiline))) << o.out;
  EXPECT_TRUE(std::regex_search(o.out, std::regex("^g +read +direct +- +[0-9.]+ +0.00 +absolute +PASS$", std::regex::multiline))) << o.out;
  EXPECT_NE(o.out.find("verdict: PASS (3 of 3 floors met"), std::string::npos) << o.out;
  nlohmann::json j = nlohmann::json::parse(slurp(dir_.file("easy.out")));
  EXPECT_EQ(j.at("verdict"), "PASS");
  EXPECT_EQ(j.at("workloads").size(), 3u);
  EXPECT_GT(j.at("workloads")[0].at("programs").at("swapio").at("median_gib_per_s").get<double>(), 0);
  if (huge_pages_possible()) {
    EXPECT_GE(j.at("workloads")[0].at("memory_contiguous_2m").get<double>(), 0.9);
  }
  EXPECT_TRUE(j.at("workloads")[2].at("memory_contiguous_2m").is_null());
  std::string xml = slurp(dir_.file("easy.xml"));
  EXPECT_NE(xml.find("<testsuite name=\"swapio qualify easy\" tests=\"3\" failures=\"0\""), std::string::npos) << xml;
  EXPECT_EQ(xml.find("<failure"), std::string::npos) << xml;
  EXPECT_NE(xml.find("</testsuites>"), std::string::npos) << xml;

  o = run({"qualify", "--profile", profile("hard", 1e6), "--folder", dir_.file("q"), "--json", dir_.file("hard.out"),
           "--junit", dir_.file("hard.xml")});
  EXPECT_EQ(o.status, 1) << o.out << o.err;
  EXPECT_TRUE(std::regex_search(o.out, std::regex("^w +write +direct +[0-9]+% +[0-9.]+ +1000000.00 +absolute +FAIL$", std::regex::multiline))) << o.out;
  EXPECT_NE(o.out.find("verdict: FAIL (0 of 3 floors met"), std::string::npos) << o.out;
  j = nlohmann::json::parse(slurp(dir_.file("hard.out")));
  EXPECT_EQ(j.at("verdict"), "FAIL");
  EXPECT_EQ(j.at("pass"), false);
  xml = slurp(dir_.file("hard.xml"));
  EXPECT_NE(xml.find("tests=\"3\" failures=\"3\""), std::string::npos) << xml;
  EXPECT_EQ(std::count(xml.begin(), xml.end(), '<') - std::count(xml.begin(), xml.end(), '>'), 0) << xml;
  EXPECT_NE(xml.find("<failure message=\""), std::string::npos) << xml;
  EXPECT_TRUE(std::filesystem::is_empty(dir_.file("q"))) << "qualify left files in the folder";
}

TEST_F(Cli, QualifyJunitIsWellFormed) {
  std::filesystem::create_directory(dir_.file("q"));
  const std::string profile = dir_.file("p.json");
  std::ofstream(profile) << R"({"name": "x&y", "rounds": 1, "workloads": [
      {"name": "w<1>", "op": "write", "size": "2M", "floor_gib_per_s": 1e6},
      {"name": "r", "op": "read", "size": "2M", "floor_gib_per_s": 0}]})";
  const Outcome o = run({"qualify", "--profile", profile, "--folder", dir_.file("q"), "--junit", dir_.file("j.xml")});
  EXPECT_EQ(o.status, 1) << o.err;
  const XmlCheck x = parse_xml(slurp(dir_.file("j.xml")), "testcase");
  EXPECT_TRUE(x.well_formed) << x.error;
  EXPECT_EQ(x.count, 2);
  EXPECT_EQ(parse_xml(slurp(dir_.file("j.xml")), "failure").count, 1);
}

TEST_F(Cli, QualifyRefusesBadInputWithStatusTwo) {
  const std::string bad = dir_.file("bad.json");
  std::ofstream(bad) << R"({"name": "b", "workloads": [{"name": "w", "op": "write", "size": "1M", "floor": 1}]})";
  const std::string unchecked = dir_.file("unchecked.json");  // its only floor needs a ceiling tool
  std::ofstream(unchecked) << R"({"name": "u", "workloads": [{"name": "w", "op": "write", "size": "1M", "floor_vs_ceiling": 0.9}]})";
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"qualify", "--profile", bad, "--folder", dir_.path()},
           {"qualify", "--profile", unchecked, "--folder", dir_.path()},
           {"qualify", "--folder", dir_.path(), "--junit", dir_.file("no/such/dir/j.xml")},
           {"qualify", "--profile", dir_.file("missing.json"), "--folder", dir_.path()},
           {"qualify", "--folder", dir_.file("nofolder")},
           {"qualify", "--rounds", "0"},
       }) {
    const Outcome o = run(args);
    EXPECT_EQ(o.status, 2) << args[1] << " " << args[2] << "\n" << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  }
}

// No arguments: the built-in profile on a temporary folder under the current directory,
// removed afterwards. (Whether this machine passes is the perf suite's business, not this test's.)
TEST_F(Cli, QualifyWithoutArgumentsRunsTheBuiltInProfileAndCleansUp) {
  const auto before = files();
  const Outcome o = run({"qualify"}, std::chrono::seconds(300));
  EXPECT_TRUE(o.status == 0 || o.status == 1) << o.status << "\n" << o.err;
  EXPECT_NE(o.out.find("profile quick (built-in)"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("verdict: "), std::string::npos) << o.out;
  EXPECT_EQ(files(), before) << "the temporary folder was left behind";
}

// The per-round floor pairs each swapio round with the ceiling's run of the same round and fails
// on the worst ratio (a fake ceiling: round 1 slower than any disk, round 2 faster than any).
TEST_F(Cli, QualifyChecksTheSlowestRoundAgainstItsCeilingRound) {
  std::filesystem::create_directory(dir_.file("q"));
  const std::string profile = dir_.file("p.json");
  std::ofstream(profile) << R"({"name": "rounds", "rounds": 2, "workloads": [
      {"name": "w", "op": "write", "size": "4M", "floor_round_vs_ceiling": 0.85}]})";
  const auto ceiling = [&](const std::string& name, const std::string& round2_bw) {
    const std::string path = dir_.file(name);
    std::ofstream(path) << "#!/bin/sh\nn=$(cat " << path << ".calls 2>/dev/null || echo 0); n=$((n+1)); echo $n > " << path
                        << ".calls\nif [ $n -le 2 ]; then bw=1024; else bw=" << round2_bw << "; fi\n"
                        << R"(printf '{"jobs":[{"write":{"io_bytes":4194304,"bw_bytes":%s},"usr_cpu":1,"sys_cpu":1,)"
                        << R"("job_runtime":10}]}\n' $bw)" << "\n";
    std::filesystem::permissions(path, std::filesystem::perms::owner_all);
    return path;
  };
  Outcome o = run({"qualify", "--profile", profile, "--folder", dir_.file("q"), "--ceiling", ceiling("fast", "1e18"),
                   "--json", dir_.file("fail.json")});
  EXPECT_EQ(o.status, 1) << o.out << o.err;
  EXPECT_TRUE(std::regex_search(o.out, std::regex("^w +write +direct +[0-9]+% +[0-9.]+ +[0-9.e+]+ +0.85x ceiling, every round "
                                                  "\\(worst 2\\) +FAIL$", std::regex::multiline))) << o.out;
  nlohmann::json j = nlohmann::json::parse(slurp(dir_.file("fail.json")));
  const auto& c = j.at("workloads")[0].at("checks")[0];
  EXPECT_EQ(c.at("kind"), "round vs ceiling");
  EXPECT_EQ(c.at("round"), 2);
  EXPECT_EQ(c.at("reference"), "ceiling libaio");
  EXPECT_EQ(c.at("pass"), false);
  EXPECT_EQ(j.at("workloads")[0].at("programs").at("swapio").at("memory_contiguous_2m").size(), 2u);

  o = run({"qualify", "--profile", profile, "--folder", dir_.file("q"), "--ceiling", ceiling("slow", "1024"),
           "--json", dir_.file("pass.json")});
  EXPECT_EQ(o.status, 0) << o.out << o.err;
  j = nlohmann::json::parse(slurp(dir_.file("pass.json")));
  EXPECT_EQ(j.at("workloads")[0].at("checks")[0].at("pass"), true);
  EXPECT_TRUE(std::filesystem::is_empty(dir_.file("q"))) << "qualify left files in the folder";
}

// A program that fails fails its workload, not the reports: the table, the JSON and the JUnit
// file are written with what was measured and the error (how the program ended, what it said;
// no made-up errno), and the next workload still runs.
TEST_F(Cli, QualifyReportsAFailedProgramInEveryReport) {
  std::filesystem::create_directory(dir_.file("q"));
  std::ofstream(dir_.file("p.json")) << nlohmann::json{
      {"name", "p"},
      {"rounds", 1},
      {"workloads",
       {{{"name", "c"}, {"op", "write"}, {"size", "4M"}, {"floor_vs_ceiling", 0.5}},
        {{"name", "a"}, {"op", "read"}, {"size", "4M"}, {"floor_gib_per_s", 0}}}}};
  // A ceiling tool that fails its writes (and runs plain fio for reads).
  std::ofstream(dir_.file("ceiling")) << "#!/bin/sh\ncase \"$*\" in *--rw=write*) echo 'no contiguous memory' >&2; exit 3;; "
                                         "esac\nexec fio \"$@\"\n";
  std::filesystem::permissions(dir_.file("ceiling"), std::filesystem::perms::owner_all);
  const Outcome o = run({"qualify", "--profile", dir_.file("p.json"), "--folder", dir_.file("q"), "--ceiling",
                         dir_.file("ceiling"), "--json", dir_.file("q.json"), "--junit", dir_.file("q.xml")});
  EXPECT_EQ(o.status, 1) << o.out << o.err;
  EXPECT_EQ((o.out + o.err).find("Input/output error"), std::string::npos) << o.out << o.err;
  EXPECT_TRUE(std::regex_search(o.out, std::regex("^c +write +direct +([0-9]+%|-) +[0-9.]+ +- +0.50x ceiling +ERROR$", std::regex::multiline))) << o.out;
  EXPECT_TRUE(std::regex_search(o.out, std::regex("^a +read +direct +([0-9]+%|-) +[0-9.]+ +0.00 +absolute +PASS$", std::regex::multiline))) << o.out;
  const std::string why = "ceiling libaio, workload c: exited with status 3: no contiguous memory";
  EXPECT_NE(o.out.find(why), std::string::npos) << o.out;
  const nlohmann::json j = nlohmann::json::parse(slurp(dir_.file("q.json")));
  EXPECT_EQ(j.at("verdict"), "FAIL");
  EXPECT_EQ(j.at("workloads")[0].at("error"), why);
  EXPECT_EQ(j.at("workloads")[0].at("programs").at("swapio").at("gib_per_s").size(), 1u) << "swapio's round was lost";
  EXPECT_EQ(j.at("workloads")[1].at("pass"), true) << "the workload after the failed one did not run";
  const std::string xml = slurp(dir_.file("q.xml"));
  EXPECT_NE(xml.find("tests=\"2\" failures=\"0\" skipped=\"0\" errors=\"1\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<error message=\"" + why + "\"/>"), std::string::npos) << xml;
  EXPECT_TRUE(std::filesystem::is_empty(dir_.file("q"))) << "qualify left files in the folder";
}

// On a folder where swapio runs buffered (tmpfs reports no direct-I/O alignment), the references
// run buffered too: like is compared with like, and the table and the JSON say so. With
// --direct on, bench runs O_DIRECT there and says so.
TEST_F(Cli, QualifyComparesLikeWithLikeOnAMemoryFilesystem) {
  ScratchMount shm(dir_.path(), "shm", "tmpfs", "size=256m");
  if (!shm.ok()) GTEST_SKIP() << shm.why_not();
  std::ofstream(dir_.file("p.json")) << nlohmann::json{
      {"name", "p"},
      {"rounds", 1},
      {"workloads", {{{"name", "w"}, {"op", "write"}, {"size", "8M"}, {"floor_vs_fio", 0.0}, {"floor_vs_ceiling", 0.0}}}}};
  // A ceiling tool that notes how it was run, then runs fio.
  std::ofstream(dir_.file("ceiling")) << "#!/bin/sh\necho \"$@\" >> " << dir_.file("ceiling.args") << "\nexec fio \"$@\"\n";
  std::filesystem::permissions(dir_.file("ceiling"), std::filesystem::perms::owner_all);
  Outcome o = run({"qualify", "--profile", dir_.file("p.json"), "--folder", shm.path(), "--ceiling", dir_.file("ceiling"),
                   "--json", dir_.file("q.json")});
  EXPECT_EQ(o.status, 0) << o.out << o.err;
  EXPECT_TRUE(std::regex_search(o.out, std::regex("^w +write +buffered +([0-9]+%|-) +[0-9.]+ ", std::regex::multiline))) << o.out;
  EXPECT_NE(o.out.find("w: buffered I/O for every program (the filesystem reports no direct-I/O alignment"), std::string::npos)
      << o.out;
  const std::string args = slurp(dir_.file("ceiling.args"));
  EXPECT_NE(args.find("--direct=0"), std::string::npos) << args;
  EXPECT_EQ(args.find("--direct=1"), std::string::npos) << args;
  const nlohmann::json j = nlohmann::json::parse(slurp(dir_.file("q.json")));
  EXPECT_EQ(j.at("workloads")[0].at("direct"), false);
  EXPECT_TRUE(std::filesystem::is_empty(shm.path()));

  o = run({"bench", "--write-file", shm.path() + "/d", "--write-size", "4M", "--direct", "on"});
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("O_DIRECT yes"), std::string::npos) << o.out;
}

// qualify --gpus: refused plainly where no GPU is visible, or with a bad list.
TEST_F(Cli, QualifyGpusIsRefusedWithTheReason) {
  std::string why;
  if (swapio::cuda_device_count(&why) > 0) GTEST_SKIP() << "a GPU is visible";
  expect_refused({
      {{"qualify", "--gpus", "all"}, "--gpus all: no CUDA device is visible"},
      {{"qualify", "--gpus", "0"}, "no CUDA device is visible"},
  });
}

}  // namespace
}  // namespace swapio::test
