// Nothing lost when a bench fails: a worker killed or stalled, an interrupt, a failed run in place
// (what it removes, keeps and waits for), and the leftover check every CLI test relies on.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "cli_fixture.hpp"
#include "cli_running.hpp"
#include "support.hpp"

namespace swapio::test {
namespace {

// The check itself sees each kind of leftover (and lets through what a command may change).
TEST(Leftovers, SeeWhatACommandLeaves) {
  TempDir dir;
  std::ofstream(dir.file("keep")) << "old";
  std::ofstream(dir.file("gone")) << "old";
  std::ofstream(dir.file("w.0")) << "old";
  const Leftovers l(dir.path(), {"bench", "--write-file", "w", "--write-size", "1M"});
  std::ofstream(dir.file("w.0")) << "new";  // a write target: may change when the command succeeded
  constexpr pid_t kNoSession = 1 << 30;  // above any pid_max
  EXPECT_NONFATAL_FAILURE(l.check(kNoSession, 1, ""), "w.0 existed before the command and changed");
  l.check(kNoSession, 0, "");
  std::ofstream(dir.file("keep")) << "new";
  EXPECT_NONFATAL_FAILURE(l.check(kNoSession, 0, ""), "keep existed before the command and changed");
  std::ofstream(dir.file("keep")) << "old";
  std::filesystem::remove(dir.file("gone"));
  EXPECT_NONFATAL_FAILURE(l.check(kNoSession, 0, ""), "gone existed before the command and is gone");
  std::ofstream(dir.file("gone")) << "old";
  std::ofstream(dir.file(".w.0.swapio-1-abcdef")) << "tmp";
  EXPECT_NONFATAL_FAILURE(l.check(kNoSession, 0, ""), "the command left");
  std::filesystem::remove(dir.file(".w.0.swapio-1-abcdef"));
  // A process of the command's group still alive: named, and killed.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  pid_t sleeper = -1;
  char sleep_cmd[] = "sleep", ten[] = "10";
  char* argv[] = {sleep_cmd, ten, nullptr};
  ASSERT_EQ(posix_spawnp(&sleeper, "sleep", nullptr, &attr, argv, environ), 0);
  posix_spawnattr_destroy(&attr);
  EXPECT_NONFATAL_FAILURE(l.check(sleeper, 0, ""), "outlived it");
  int status = 0;
  ASSERT_EQ(::waitpid(sleeper, &status, 0), sleeper);
  EXPECT_TRUE(WIFSIGNALED(status));
}

TEST_F(Cli, AKilledWorkerIsNamedAndNothingHangs) {
  const std::string out = dir_.file(".out"), err = dir_.file(".err");
  const std::vector<std::string> args = {"bench", "--write-file", "k", "--write-size", "16M", "--threads", "3",
                                         "--loops", "100000"};
  const Leftovers leftovers(dir_.path(), args);
  const pid_t bench = spawn_cli(args, out, err, dir_.path());
  std::vector<pid_t> workers;
  for (int i = 0; i < 500 && workers.size() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    workers = children_of(bench);
  }
  ASSERT_EQ(workers.size(), 3u) << "the workers did not start";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // mid-run
  ASSERT_EQ(::kill(workers[1], SIGKILL), 0);
  const int status = wait_exit(bench, std::chrono::seconds(60));
  const std::string e = slurp(err);
  leftovers.check(bench, status, e);
  EXPECT_EQ(status, 1) << e;
  EXPECT_TRUE(std::regex_search(e, std::regex("worker [0-2] \\(pid " + std::to_string(workers[1]) + ", .*\\) failed: was "
                                              "killed by signal 9")))
      << e;
  for (pid_t w : workers) EXPECT_NE(::kill(w, 0), 0) << "worker " << w << " outlived the run";
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  EXPECT_TRUE(files().empty()) << "a failed write run left its files";
}

TEST_F(Cli, AStalledWorkerIsStoppedAfterTheStallTimeout) {
  const Outcome o = run_and_act(dir_, {"bench", "--write-file", "s", "--write-size", "8M", "--threads", "2", "--loops",
                                       "100000", "--stall-timeout", "1"},
                                2, [](pid_t, const std::vector<pid_t>& kids) { ::kill(kids[0], SIGSTOP); });
  EXPECT_EQ(o.status, 1) << o.err;
  EXPECT_NE(o.err.find("made no progress for 1 s"), std::string::npos) << o.err;
  EXPECT_TRUE(files().empty());
}

TEST_F(Cli, InterruptStopsTheWorkersAndRemovesTheFiles) {
  const Outcome o = run_and_act(dir_, {"bench", "--quick", "--write-size", "8M", "--threads", "2", "--loops", "100000"},
                                2, [](pid_t bench, const std::vector<pid_t>&) { ::kill(bench, SIGINT); });
  EXPECT_EQ(o.status, 128 + SIGINT) << o.err;
  EXPECT_NE(o.err.find("interrupted"), std::string::npos) << o.err;
  EXPECT_TRUE(files().empty()) << "an interrupted run left its files";
}

// With --atomic-replace the old files survive a signal and a worker that dies: each holds its old
// content or a whole new one, and no temporary is left (the killed workers' are removed).
TEST_F(Cli, AtomicReplaceKeepsTheOldFilesWhenInterruptedOrAWorkerDies) {
  const Outcome first = run({"bench", "--write-file", dir_.file("w"), "--write-size", "16M", "--threads", "2"});
  ASSERT_EQ(first.status, 0) << first.err;
  const std::string w0 = slurp(dir_.file("w.0")), w1 = slurp(dir_.file("w.1"));
  ASSERT_EQ(w0.size(), 16u << 20);
  const std::vector<std::string> replace = {"bench", "--write-file", "w", "--write-size", "16M", "--threads", "2",
                                            "--atomic-replace", "--loops", "100000"};
  const Outcome interrupted = run_and_act(dir_, replace, 2, [](pid_t bench, const std::vector<pid_t>&) { ::kill(bench, SIGTERM); });
  EXPECT_EQ(interrupted.status, 128 + SIGTERM) << interrupted.err;
  EXPECT_EQ(files(), (std::vector<std::string>{"w.0", "w.1"})) << "a temporary was left, or an old file removed";
  EXPECT_TRUE(slurp(dir_.file("w.0")) == w0 && slurp(dir_.file("w.1")) == w1) << "an old file is not whole";
  const Outcome died = run_and_act(dir_, replace, 2, [](pid_t, const std::vector<pid_t>& kids) { ::kill(kids[0], SIGKILL); });
  EXPECT_EQ(died.status, 1) << died.err;
  EXPECT_NE(died.err.find("was killed by signal 9"), std::string::npos) << died.err;
  EXPECT_EQ(files(), (std::vector<std::string>{"w.0", "w.1"})) << "a temporary was left, or an old file removed";
  EXPECT_TRUE(slurp(dir_.file("w.0")) == w0 && slurp(dir_.file("w.1")) == w1) << "an old file is not whole";
}

// A failed run in place removes only what it created: a file that existed (also behind a link)
// stays and is named as possibly partial, a file created through a dangling link goes, and no
// link is ever removed.
TEST_F(Cli, AFailedRunRemovesOnlyWhatItCreated) {
  std::filesystem::create_directory(dir_.file("tgt"));
  std::ofstream(dir_.file("tgt/real.0")) << std::string(1 << 20, 'r');
  std::filesystem::create_symlink("tgt/real.0", dir_.file("sl.0"));  // a link to an existing file
  std::ofstream(dir_.file("sl.1")) << std::string(1 << 20, 'o');      // an existing file
  std::filesystem::create_symlink("tgt/new.2", dir_.file("sl.2"));    // a dangling link
  const Outcome o = run_and_act(dir_, {"bench", "--write-file", "sl", "--write-size", "16M", "--threads", "3", "--loops", "100000"},
                                3, [](pid_t, const std::vector<pid_t>& kids) { ::kill(kids[0], SIGKILL); });
  EXPECT_EQ(o.status, 1) << o.err;
  EXPECT_NE(o.err.find("sl.0, sl.1 existed and were being overwritten in place"), std::string::npos) << o.err;
  EXPECT_TRUE(std::filesystem::is_symlink(dir_.file("sl.0"))) << "a link was removed";
  EXPECT_TRUE(std::filesystem::is_symlink(dir_.file("sl.2"))) << "a link was removed";
  EXPECT_TRUE(std::filesystem::exists(dir_.file("tgt/real.0"))) << "a file that existed was removed";
  EXPECT_TRUE(std::filesystem::exists(dir_.file("sl.1"))) << "a file that existed was removed";
  EXPECT_FALSE(std::filesystem::exists(dir_.file("tgt/new.2"))) << "the file the run created through a link was left";
}

// A longer file an earlier run left is replaced, not appended to: cut to the new size, once the
// first write is whole.
TEST_F(Cli, ALongerOldFileIsCutToTheNewSize) {
  std::ofstream(dir_.file("c.0")) << std::string(3 << 20, 'x');
  const Outcome o = run({"bench", "--write-file", dir_.file("c"), "--write-size", "1M", "--loops", "2", "--validate"});
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(file_size(dir_.file("c.0")), 1u << 20);
}

// A failed run returns only once the space of the files it removed is free again (a killed
// worker's io_uring is torn down after the worker is reaped, and holds the files until then;
// here another process holding the file for 300 ms stands in for it): the next command finds
// the space the run had.
TEST_F(Cli, AFailedRunReturnsOnceTheSpaceOfItsFilesIsFree) {
  ScratchMount small(dir_.path(), "small", "tmpfs", "size=64m");
  if (!small.ok()) GTEST_SKIP() << small.why_not();
  std::thread release;
  bool opened = false;
  const Outcome o = run_and_act(dir_, {"bench", "--write-file", small.path() + "/x", "--write-size", "24M", "--threads", "2",
                                       "--loops", "100000"},
                                2, [&](pid_t, const std::vector<pid_t>& kids) {
                                  int held = -1;
                                  wait_until([&] { return (held = ::open((small.path() + "/x.0").c_str(), O_RDONLY)) >= 0; });
                                  ::kill(kids[0], SIGKILL);
                                  if (held < 0) return;
                                  opened = true;
                                  release = std::thread([held] {
                                    std::this_thread::sleep_for(std::chrono::milliseconds(300));
                                    ::close(held);
                                  });
                                });
  struct statvfs v {};
  const int rc = ::statvfs(small.path().c_str(), &v);
  const std::uint64_t free_at_exit = static_cast<std::uint64_t>(v.f_bfree) * v.f_frsize;
  if (release.joinable()) release.join();
  ASSERT_EQ(rc, 0);
  ASSERT_TRUE(opened) << "x.0 never appeared";
  EXPECT_EQ(o.status, 1) << o.err;
  EXPECT_TRUE(std::filesystem::is_empty(small.path()));
  EXPECT_GE(free_at_exit, 63u << 20) << "swapio returned before the space of the files it removed was free";
}

TEST_F(Cli, AWorkerErrorIsReportedWithItsMessage) {
  // ramfs refuses O_DIRECT: with --direct on, every worker fails to open the file (needs root).
  RamfsMount ramfs(dir_.path());
  if (!ramfs.ok()) GTEST_SKIP() << ramfs.why_not();
  const std::string mnt = ramfs.path();
  std::ofstream(mnt + "/r") << std::string(1 << 20, 'r');
  const Outcome o = run({"bench", "--read-file", mnt + "/r", "--direct", "on", "--threads", "2"});
  EXPECT_EQ(o.status, 1) << o.err;
  EXPECT_TRUE(std::regex_search(o.err, std::regex("worker [01] \\(pid [0-9]+, .*/r\\) failed: .*O_DIRECT refused")))
      << o.err;
}

// A run that fails after some loops keeps the figures of the loops every worker finished.
TEST_F(Cli, AFailedRunKeepsTheLoopsThatFinished) {
  const std::vector<std::string> args = {"bench", "--write-file", "kf", "--write-size", "8M", "--threads", "2",
                                         "--loops", "100000", "--json"};
  const Outcome o = run_and_act(dir_, args, 2, [](pid_t, const std::vector<pid_t>& kids) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::kill(kids[1], SIGKILL);
  });
  EXPECT_EQ(o.status, 1) << o.err;
  const nlohmann::json j = nlohmann::json::parse(o.out);
  EXPECT_NE(j.at("error").get<std::string>().find("killed by signal 9"), std::string::npos) << j.at("error");
  ASSERT_EQ(j.at("phases").size(), 1u) << o.out.substr(0, 2000);
  const nlohmann::json& ph = j.at("phases")[0];
  EXPECT_EQ(ph.at("complete"), false);
  const auto finished = ph.at("loops_finished").get<std::size_t>();
  EXPECT_GT(finished, 0u);
  EXPECT_LT(finished, 100000u);
  EXPECT_EQ(ph.at("loops").size(), finished);
  EXPECT_EQ(ph.at("aggregate").at("bytes").get<std::uint64_t>(), finished * 2 * (8u << 20));
  EXPECT_GT(ph.at("aggregate").at("task_gib_per_s").get<double>(), 0);
  EXPECT_TRUE(files().empty()) << "a failed write run left its files";
}

}  // namespace
}  // namespace swapio::test
