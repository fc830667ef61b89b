// `swapio tune`: its recommendation and reports, the spaces and folders it refuses, and what it
// reports when the disk fills midway.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli_fixture.hpp"
#include "cli_running.hpp"
#include "support.hpp"
#include "xml_check.hpp"

namespace swapio::test {
namespace {

// swapio tune on a tiny space: every configuration is screened, the leaders are confirmed, the
// recommendation is the confirmed leader with the best median, and every report is readable.
TEST_F(Cli, TuneRecommendsTheBestMeasuredConfigurationAndWritesItsReports) {
  std::filesystem::create_directory(dir_.file("t"));
  const std::string space = dir_.file("space.json");
  std::ofstream(space) << R"({"block_size": ["64K", "128K"], "queue_depth": [4, 8], "overlap_events": [true],
      "single_submit": [false], "io_parallel": [1, 2], "size": "4M", "screen_size": "1M", "rounds": 3, "leaders": 2})";
  const std::string prefix = dir_.file("out");
  const Outcome o = run({"tune", "--folder", dir_.file("t"), "--space", space, "--prefix", prefix});
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("an exhaustive sweep at full size would be 24 runs"), std::string::npos) << o.out;
  const nlohmann::json j = nlohmann::json::parse(slurp(prefix + ".json"));
  EXPECT_EQ(j.at("configurations"), 8);
  // 8 screened at 1 MiB, the better quarter (at least 2 leaders) confirmed 3 times at 4 MiB.
  int screened = 0;
  std::map<std::string, std::vector<double>> confirmed;
  for (const auto& r : j.at("runs")) {
    const std::string key = std::to_string(r.at("block_size").get<std::uint64_t>()) + "/" +
                            std::to_string(r.at("queue_depth").get<unsigned>()) + "/" +
                            std::to_string(r.at("io_parallel").get<unsigned>());
    if (r.at("stage") == "1") {
      ++screened;
      EXPECT_EQ(r.at("size"), 1u << 20);
    } else {
      EXPECT_EQ(r.at("stage"), "final");
      EXPECT_EQ(r.at("size"), 4u << 20);
      confirmed[key].push_back(r.at("combined_gib_per_s").get<double>());
    }
    EXPECT_GT(r.at("write_gib_per_s").get<double>(), 0);
    EXPECT_GT(r.at("read_gib_per_s").get<double>(), 0);
  }
  EXPECT_EQ(screened, 8);
  ASSERT_EQ(confirmed.size(), 2u);
  std::string best_key;
  double best = -1;
  for (auto& [key, v] : confirmed) {
    ASSERT_EQ(v.size(), 3u);
    std::sort(v.begin(), v.end());
    if (v[1] > best) {
      best = v[1];
      best_key = key;
    }
  }
  const auto& rec = j.at("best");
  const std::string rec_key = std::to_string(rec.at("block_size").get<std::uint64_t>()) + "/" +
                              std::to_string(rec.at("queue_depth").get<unsigned>()) + "/" +
                              std::to_string(rec.at("intra_op_parallelism").get<unsigned>());
  EXPECT_EQ(rec_key, best_key) << "the recommendation is not the confirmed leader with the best median";
  EXPECT_DOUBLE_EQ(j.at("best_combined_gib_per_s").get<double>(), best);

  const nlohmann::json aio = nlohmann::json::parse(slurp(prefix + "-aio.json"));
  ASSERT_EQ(aio.size(), 1u);
  std::vector<std::string> keys;
  for (const auto& [k, v] : aio.at("aio").items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"block_size", "intra_op_parallelism", "overlap_events", "queue_depth",
                                            "single_submit"}));
  const std::string csv = slurp(prefix + ".csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + static_cast<long>(j.at("runs").size()));
  const XmlCheck svg = parse_xml(slurp(prefix + ".svg"), "rect");
  EXPECT_TRUE(svg.well_formed) << svg.error;
  EXPECT_EQ(svg.count, 2 * 2 * 2) << "one cell per block size x queue depth, per direction";
  EXPECT_EQ(parse_xml(slurp(prefix + ".svg"), "svg").count, 1);
  EXPECT_TRUE(std::filesystem::is_empty(dir_.file("t"))) << "tune left its file behind";
}

TEST_F(Cli, TuneRefusesABadSpace) {
  const std::string space = dir_.file("space.json");
  for (const char* text : {R"({"block_sizes": ["1M"]})", R"({"queue_depth": []})", R"({"block_size": ["12Q"]})",
                           R"({"size": "1M", "screen_size": "4M"})", R"({"io_parallel": [0]})", "{"}) {
    std::ofstream(space) << text;
    const Outcome o = run({"tune", "--folder", dir_.path(), "--space", space, "--prefix", dir_.file("x")});
    EXPECT_EQ(o.status, 2) << text << "\n" << o.err;
    EXPECT_NE(o.err.find("space " + space), std::string::npos) << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  }
  const Outcome o = run({"tune", "--folder", dir_.file("missing")});
  EXPECT_EQ(o.status, 2) << o.err;
}

// qualify and tune check free space up front: a folder too small is refused (exit 2, one line)
// before anything is measured or written.
TEST_F(Cli, QualifyAndTuneRefuseAFolderTooSmallUpFront) {
  ScratchMount small(dir_.path(), "small", "tmpfs", "size=64m");
  if (!small.ok()) GTEST_SKIP() << small.why_not();
  Outcome o = run({"qualify", "--folder", small.path(), "--json", dir_.file("t.json"), "--junit", dir_.file("t.xml")});
  EXPECT_EQ(o.status, 2) << o.out << o.err;
  EXPECT_NE(o.err.find("profile quick needs about 512 MiB free in " + small.path() + "; it has 64 MiB"), std::string::npos) << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  o = run({"tune", "--folder", small.path(), "--prefix", dir_.file("rep")});
  EXPECT_EQ(o.status, 2) << o.out << o.err;
  EXPECT_NE(o.err.find("a run of 1 GiB needs about 1 GiB free in " + small.path()), std::string::npos) << o.err;
  EXPECT_TRUE(std::filesystem::is_empty(small.path()));
  EXPECT_FALSE(std::filesystem::exists(dir_.file("rep.json")));
}

// The disk fills while tune runs: the runs measured are reported (CSV, JSON: not complete, why),
// no recommendation is made, the file is removed, exit 1.
TEST_F(Cli, TuneThatFailsMidwayWritesWhatItMeasured) {
  ScratchMount small(dir_.path(), "small", "tmpfs", "size=64m");
  if (!small.ok()) GTEST_SKIP() << small.why_not();
  std::ofstream(dir_.file("space.json")) << R"({"block_size": ["1M"], "queue_depth": [8], "overlap_events": [true],
      "single_submit": [false], "io_parallel": [1, 2], "size": "48M", "screen_size": "8M", "rounds": 100, "leaders": 2})";
  const std::string out = dir_.file(".out"), err = dir_.file(".err"), prefix = dir_.file("rep");
  const std::vector<std::string> args = {"tune", "--folder", small.path(), "--space", dir_.file("space.json"), "--prefix", prefix};
  const Leftovers leftovers(dir_.path(), args);
  const pid_t tune = spawn_cli(args, out, err, dir_.path());
  ASSERT_TRUE(wait_until([&] { return has_entry_starting(small.path(), "swapio-tune."); })) << "tune did not start";
  // A run measured: every run writes a fresh file, so a new inode means one ended.
  const auto inode = [&]() -> ino_t {
    std::error_code ec;
    for (std::filesystem::directory_iterator it(small.path(), ec), end; !ec && it != end; it.increment(ec)) {
      struct stat st {};
      if (it->path().filename().string().starts_with("swapio-tune.") && ::stat(it->path().c_str(), &st) == 0) return st.st_ino;
    }
    return 0;
  };
  const ino_t first = inode();
  ASSERT_TRUE(wait_until([&] { const ino_t now = inode(); return now != 0 && now != first; })) << "no run ended";
  // Another program takes every byte tune frees, until tune ends.
  const int filler = ::open((small.path() + "/filler").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  ASSERT_GE(filler, 0);
  const std::string mib(1 << 20, 'f');
  int status = 0;
  bool ended = false;
  for (const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
       !ended && std::chrono::steady_clock::now() < deadline;) {
    ended = ::waitpid(tune, &status, WNOHANG) == tune;
    if (!ended && ::write(filler, mib.data(), mib.size()) <= 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ::close(filler);
  if (!ended) {
    ::kill(tune, SIGKILL);
    ::waitpid(tune, &status, 0);
    FAIL() << "tune did not end";
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status << slurp(err);
  std::filesystem::remove(small.path() + "/filler");  // the test's own
  leftovers.check(tune, WEXITSTATUS(status), slurp(err));
  EXPECT_NE(slurp(err).find("No space left on device"), std::string::npos) << slurp(err);
  EXPECT_NE(slurp(out).find("no recommendation"), std::string::npos) << slurp(out);
  const nlohmann::json j = nlohmann::json::parse(slurp(prefix + ".json"));
  EXPECT_EQ(j.at("complete"), false);
  EXPECT_NE(j.at("stopped").get<std::string>().find("No space left on device"), std::string::npos) << j.dump();
  EXPECT_GE(j.at("runs").size(), 1u) << "the runs measured were lost";
  EXPECT_TRUE(std::filesystem::exists(prefix + ".csv"));
  EXPECT_FALSE(std::filesystem::exists(prefix + "-aio.json")) << "a recommendation from a search that did not finish";
  EXPECT_FALSE(has_entry_starting(small.path(), "swapio-tune.")) << "tune left its file";
}

}  // namespace
}  // namespace swapio::test
