// qualify and tune interrupted: what they run is stopped and waited for, their temporaries are
// removed, and their reports say what was measured and that it was interrupted.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "cli_fixture.hpp"
#include "cli_running.hpp"

namespace swapio::test {
namespace {

// An interrupted tune removes its file and says so: exit status 128 + the signal.
TEST_F(Cli, TuneIsInterruptedCleanly) {
  std::filesystem::create_directory(dir_.file("t"));
  std::ofstream(dir_.file("space.json")) << R"({"size": "64M", "screen_size": "16M", "rounds": 50})";
  const std::string out = dir_.file(".out"), err = dir_.file(".err");
  const std::vector<std::string> args = {"tune", "--folder", dir_.file("t"), "--space", dir_.file("space.json"), "--prefix",
                                         dir_.file("rep")};
  const Leftovers leftovers(dir_.path(), args);
  const pid_t tune = spawn_cli(args, out, err, dir_.path());
  ASSERT_TRUE(wait_until([&] { return has_entry_starting(dir_.file("t"), "swapio-tune."); })) << "tune did not start";
  ::kill(tune, SIGINT);
  const int status = wait_exit(tune, std::chrono::seconds(60));
  EXPECT_EQ(status, 128 + SIGINT) << slurp(err);
  leftovers.check(tune, status, slurp(err));
  EXPECT_NE(slurp(err).find("interrupted by"), std::string::npos) << slurp(err);
  EXPECT_TRUE(std::filesystem::is_empty(dir_.file("t"))) << "tune left its file";
  const nlohmann::json j = nlohmann::json::parse(slurp(dir_.file("rep.json")));
  EXPECT_EQ(j.at("complete"), false);
  EXPECT_EQ(j.at("stopped"), "interrupted by Interrupt");
  EXPECT_FALSE(std::filesystem::exists(dir_.file("rep-aio.json")));
}

// An interrupted qualify stops the program it runs (fio or bench), waits for it, and removes its
// temporary folder: nothing outlives it.
TEST_F(Cli, QualifyIsInterruptedCleanly) {
  const std::string out = dir_.file(".out"), err = dir_.file(".err");
  const std::vector<std::string> args = {"qualify", "--json", "q.json", "--junit", "q.xml"};
  const Leftovers leftovers(dir_.path(), args);
  const pid_t qualify = spawn_cli(args, out, err, dir_.path());
  std::vector<pid_t> kids;
  ASSERT_TRUE(wait_until([&] {
    kids = children_of(qualify);
    return !kids.empty() && has_entry_starting(dir_.path(), "swapio-qualify-");
  })) << "qualify did not start a measurement";
  ::kill(qualify, SIGTERM);
  const int status = wait_exit(qualify, std::chrono::seconds(60));
  EXPECT_EQ(status, 128 + SIGTERM) << slurp(err);
  leftovers.check(qualify, status, slurp(err));
  EXPECT_NE(slurp(err).find("interrupted by"), std::string::npos) << slurp(err);
  // The reports say what was measured, and that it was interrupted.
  const nlohmann::json j = nlohmann::json::parse(slurp(dir_.file("q.json")));
  EXPECT_EQ(j.at("interrupted"), true);
  EXPECT_EQ(j.at("verdict"), "FAIL");
  EXPECT_EQ(j.at("workloads")[0].at("error"), "interrupted by Terminated");
  EXPECT_EQ(j.at("workloads")[1].at("error"), "not run: interrupted by Terminated");
  EXPECT_NE(slurp(dir_.file("q.xml")).find("<error message=\"interrupted by Terminated\"/>"), std::string::npos);
  // The workload never run has no figure: "-" on the screen, null in the JSON, not 0.
  EXPECT_TRUE(std::regex_search(slurp(out), std::regex("^read-default +read +- +- +- +- +.* ERROR$", std::regex::multiline)))
      << slurp(out);
  const nlohmann::json& unrun = j.at("workloads")[1];
  EXPECT_TRUE(unrun.at("programs").at("swapio").at("median_gib_per_s").is_null()) << unrun.dump();
  EXPECT_TRUE(unrun.at("checks")[0].at("measured_gib_per_s").is_null()) << unrun.dump();
  for (pid_t k : kids) EXPECT_NE(::kill(k, 0), 0) << "process " << k << " outlived qualify";
  EXPECT_FALSE(has_entry_starting(dir_.path(), "swapio-qualify-")) << "qualify left its folder";
}

// An interrupt stops what qualify's programs started too (fio's job processes; here the children
// of a stand-in fio that hangs in `fio --version`, which runs before any measurement), and all of
// it is waited for.
TEST_F(Cli, QualifyStopsWhatItsProgramsStarted) {
  std::filesystem::create_directory(dir_.file("bin"));
  std::ofstream(dir_.file("bin/fio")) << "#!/bin/sh\nsleep 60 &\nsleep 60 &\nwait\n";
  std::filesystem::permissions(dir_.file("bin/fio"), std::filesystem::perms::owner_all);
  const std::string out = dir_.file(".out"), err = dir_.file(".err");
  const Leftovers leftovers(dir_.path(), {"qualify"});
  const pid_t qualify = spawn_cli({"qualify"}, out, err, dir_.path(),
                                  {"env", "PATH=" + dir_.file("bin") + ":" + std::getenv("PATH")});
  ASSERT_TRUE(wait_until([&] {
    std::size_t sleeps = 0;
    for (pid_t p : session_members(qualify)) sleeps += slurp("/proc/" + std::to_string(p) + "/comm") == "sleep\n" ? 1 : 0;
    return sleeps == 2;
  })) << "the stand-in fio did not start";
  ::kill(qualify, SIGTERM);
  const int status = wait_exit(qualify, std::chrono::seconds(60));
  EXPECT_EQ(status, 128 + SIGTERM) << slurp(err);
  EXPECT_NE(slurp(err).find("interrupted by Terminated"), std::string::npos) << slurp(err);
  leftovers.check(qualify, status, slurp(err));
}

// Started with SIGINT ignored (a script's background job), qualify keeps it ignored, and so do
// the programs it runs: a Ctrl-C to the terminal's group does not kill fio under it.
TEST_F(Cli, QualifyStartedWithInterruptsIgnoredKeepsThemIgnored) {
  const std::string out = dir_.file(".out"), err = dir_.file(".err");
  const Leftovers leftovers(dir_.path(), {"qualify"});
  const pid_t qualify = spawn_cli({"qualify"}, out, err, dir_.path(), {"sh", "-c", "trap '' INT; exec \"$0\" \"$@\""});
  std::vector<pid_t> kids;
  ASSERT_TRUE(wait_until([&] {
    kids = children_of(qualify);
    return !kids.empty() && has_entry_starting(dir_.path(), "swapio-qualify-");
  })) << "qualify did not start a measurement";
  ::kill(qualify, SIGINT);  // what Ctrl-C sends to every process of the group
  for (pid_t k : kids) ::kill(k, SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ::kill(qualify, SIGTERM);
  const int status = wait_exit(qualify, std::chrono::seconds(60));
  EXPECT_EQ(status, 128 + SIGTERM) << "qualify or its program took the ignored SIGINT: " << slurp(err);
  EXPECT_EQ(slurp(err).find("signal 2"), std::string::npos) << "a program qualify ran took the ignored SIGINT: " << slurp(err);
  leftovers.check(qualify, status, slurp(err));
  EXPECT_NE(slurp(err).find("interrupted by Terminated"), std::string::npos) << slurp(err);
  EXPECT_FALSE(has_entry_starting(dir_.path(), "swapio-qualify-")) << "qualify left its folder";
}

}  // namespace
}  // namespace swapio::test
