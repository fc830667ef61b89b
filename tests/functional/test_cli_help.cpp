// What the command says about itself: --help for every verb, --version, and the manual page.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "cli_fixture.hpp"

namespace swapio::test {
namespace {

TEST_F(Cli, HelpExplainsEveryKnob) {
  const Outcome o = run({"bench", "--help"});
  EXPECT_EQ(o.status, 0) << o.err;
  for (const char* knob : {"--read-file", "--write-file", "--write-size", "--block-size", "--queue-depth", "--threads",
                           "--single-submit", "--overlap-events", "--sequential-requests", "--validate", "--handle",
                           "--loops", "--warmup-loops", "--io-parallel", "--gpu", "--device", "--folder-to-device-mapping",
                           "--device-chunk-size", "--device-chunks", "--engine", "--direct", "--folder",
                           "--json", "--quick", "2^30"}) {
    EXPECT_NE(o.out.find(knob), std::string::npos) << knob << " is not in --help";
  }
}

// --version: the version, the revision, the build type and what the build has; for every verb.
TEST_F(Cli, VersionSaysWhatTheBuildIs) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--version"}, {"bench", "--version"}, {"qualify", "--version"}, {"tune", "--version"}, {"ds_io", "--version"}}) {
    const Outcome o = run(args);
    EXPECT_EQ(o.status, 0) << args[0] << "\n" << o.err;
    EXPECT_TRUE(std::regex_search(o.out, std::regex("^swapio [0-9]+\\.[0-9]+\\.[0-9]+ \\(git [^,]+, [^)]+\\)\n")))
        << o.out;
    for (const char* feature : {"io_uring (liburing ", "aio", "psync", "CUDA: ", "Python package: ", "MPI: "}) {
      EXPECT_NE(o.out.find(feature), std::string::npos) << feature << " missing in\n" << o.out;
    }
  }
}

// Every --help names the exit statuses.
TEST_F(Cli, EveryHelpNamesTheExitStatuses) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--help"}, {"bench", "--help"}, {"qualify", "--help"}, {"tune", "--help"}, {"ds_io", "--help"}}) {
    const Outcome o = run(args);
    EXPECT_EQ(o.status, 0) << args[0];
    for (const char* status : {"Exit status: 0 ", "1 ", "2 bad arguments", "128+N interrupted by signal N"}) {
      EXPECT_NE(o.out.find(status), std::string::npos) << args[0] << " " << (args.size() > 1 ? args[1] : "") << ": "
                                                         << status << " missing";
    }
  }
}

// swapio(1) is built beside the command and renders, naming every verb and the exit statuses.
TEST_F(Cli, TheManualPageRenders) {
  const std::string page = (std::filesystem::path(SWAPIO_CLI_PATH).parent_path() / "swapio.1").string();
  ASSERT_TRUE(std::filesystem::exists(page)) << page;
  if (::system("command -v man >/dev/null 2>&1") != 0) GTEST_SKIP() << "man (man-db) is not installed";
  const std::string out = dir_.file("man.txt"), err = dir_.file("man.err");
  const std::string cmd = "MANWIDTH=100 man -l -P cat '" + page + "' > '" + out + "' 2> '" + err + "'";
  ASSERT_EQ(::system(cmd.c_str()), 0) << slurp(err);
  const std::string text = slurp(out);
  EXPECT_EQ(slurp(err), "") << "troff warnings";
  for (const char* s : {"SWAPIO(1)", "NAME", "SYNOPSIS", "SWAPIO BENCH", "SWAPIO QUALIFY", "SWAPIO TUNE", "SWAPIO DS_IO",
                        "--write-file", "--io_size", "EXIT STATUS", "128+N"}) {
    EXPECT_NE(text.find(s), std::string::npos) << s << " is not in the rendered page";
  }
}

}  // namespace
}  // namespace swapio::test
