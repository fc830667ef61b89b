// `swapio bench` refusing what it cannot run: one clear line on stderr, exit status 2, nothing on
// stdout, and no file created or changed.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "cli_fixture.hpp"
#include "support.hpp"

namespace swapio::test {
namespace {

// The rows of bad input: what each command line is refused for (the files named are made by
// the test before it runs them).
std::vector<BadCase> bench_bad_cases(const TempDir& dir) {
  const std::string fifo = dir.file("fifo");
  const std::string existing = dir.file("existing");
  const std::string w = dir.file("w");
  return {
      {{}, "A subcommand is required"},
      {{"bench"}, "nothing to do"},
      {{"bench", "--read-file", dir.file("missing")}, "--read-file " + dir.file("missing") + ": No such file"},
      {{"bench", "--read-file", dir.file("folder")}, "is a directory"},
      {{"bench", "--read-file", "/dev/null"}, "not a regular file"},
      {{"bench", "--write-file", dir.file("no/such/w"), "--write-size", "1M"}, "No such file or directory"},
      {{"bench", "--write-file", w, "--write-size", "12Q"}, "size '12Q' is invalid"},
      {{"bench", "--write-file", w, "--write-size", "-1"}, "size '-1' is invalid"},
      {{"bench", "--write-file", w, "--write-size", "1.5M"}, "size '1.5M' is invalid"},
      {{"bench", "--write-file", w, "--write-size", "0"}, "--write-size 0"},
      {{"bench", "--write-file", w}, "--write-file needs --write-size"},
      {{"bench", "--write-size", "1M", "--read-file", dir.file("existing")}, "--write-size needs --write-file"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--threads", "0"}, "--threads 0"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--threads", "-1"}, "--threads"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--threads", "100000"}, "--threads 100000: at most"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--handle", "--io-parallel", "0"}, "--io-parallel 0"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--threads", "010"}, "leading zero"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--queue-depth", "0x20"}, "not a whole decimal number"},
      {{"bench", "--write-file", dir.file("folder"), "--write-size", "1M", "--threads", "2"}, "folder.1 exists and is not a regular file"},
      {{"bench", "--quick", "--write-size", "0"}, "--write-size 0"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--queue-depth", "0"}, "--queue-depth 0"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--queue-depth", "999999"}, "beyond what an io_uring ring allows"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--queue-depth", "abc"}, "--queue-depth"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--block-size", "0"}, "--block-size 0"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--block-size", "2G"}, "too large"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--loops", "0"}, "--loops 0"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--engine", "spdk"}, "engine 'spdk' is unknown"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--direct", "maybe"}, "direct mode 'maybe' is unknown"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--gpu"}, "--device emulated runs the same path"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--gpu", "--device", "tpu"}, "--device tpu: expected"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--device", "emulated"}, "--device emulated needs --gpu"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--folder-to-device-mapping", dir.file("folder") + ":0"},
       "--folder-to-device-mapping needs --gpu"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--gpu", "--device", "emulated", "--folder-to-device-mapping",
        dir.file("folder")}, "expected FOLDER:N"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--gpu", "--device", "emulated", "--folder-to-device-mapping",
        dir.file("folder") + ":x"}, "expected FOLDER:N"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--gpu", "--device", "emulated", "--folder", dir.file("folder"),
        "--folder-to-device-mapping", dir.file("folder") + ":0"}, "not both"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--gpu", "--device", "emulated", "--device-chunks", "1"},
       "device_chunks 1"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--gpu", "--device", "emulated", "--device-chunk-size", "0"},
       "device_chunk_size 0"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--bogus"}, "--bogus"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--overlap-events", "--sequential-requests"}, "contradict"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--folder", dir.file("nofolder")}, "--folder"},
      {{"bench", "--quick", "--write-file", w}, "--quick chooses its own file"},
      {{"bench", "--write-file", w, "--write-size", "900T"}, "does not fit in"},
      {{"frobnicate"}, "'frobnicate' is not a subcommand"},
      {{"bench", "--write-file", w, "--write-size", "-5M"}, "size '-5M' is invalid"},
      {{"bench", "--write-file", w, "--write-size", "5X"}, "size '5X' is invalid"},
      {{"bench", "--write-file", w, "--write-size", "5MiBs"}, "size '5MiBs' is invalid"},
      {{"bench", "--write-file", w, "--write-size", "99999999999999999999"}, "too large"},
      {{"bench", "--write-file", w, "--write-size", "17179869184G"}, "too large"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--block-size", "-4K"}, "size '-4K' is invalid"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--block-size", "1.5K"}, "size '1.5K' is invalid"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--block-size", "1T"}, "too large"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--direct", "on", "--block-size", "1000"},
       "not a multiple of the direct-I/O alignment"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--queue-depth", "-1"}, "--queue-depth"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--queue-depth", ""}, "--queue-depth"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--threads", "1.5"}, "--threads"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--threads", "99999999999"}, "--threads"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--handle", "--io-parallel", "5000"}, "at most 1024"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--loops", "-1"}, "--loops"},
      {{"bench", "--read-file", fifo}, "not a regular file"},
      {{"bench", "--write-file", fifo, "--write-size", "1M"}, "exists and is not a regular file"},
      {{"bench", "--read-file", dir.file("empty")}, "the file is empty"},
      {{"bench", "--write-file", dir.file("folder") + "/", "--write-size", "1M"}, "names a folder, not a file"},
      {{"bench", "--write-file", dir.file("folder") + "/.", "--write-size", "1M"}, "names a folder, not a file"},
      {{"bench", "--write-file", w, "--write-size", "1.5M"}, "fractions are not accepted"},
      {{"bench", "--read-file", dir.file("same.0"), "--write-file", dir.file("same"), "--write-size", "1M"},
       "name the same file"},
      {{"bench", "--read-file", existing, "--sync"}, "--sync needs --write-file"},
      {{"bench", "--read-file", existing, "--atomic-replace"}, "--atomic-replace needs --write-file"},
  };
}

// The table of bad input: each row one clear line on stderr, exit status 2, nothing on stdout,
// no crash, no hang (each run is bounded), and no file created or truncated.
TEST_F(Cli, BadArgumentsGetOneLineAndStatusTwo) {
  std::filesystem::create_directory(dir_.file("folder"));
  std::filesystem::create_directory(dir_.file("folder.1"));  // in the way of process 1's file
  std::ofstream(dir_.file("existing")) << "data";
  std::ofstream(dir_.file("empty")).flush();
  std::ofstream(dir_.file("same.0")) << "data";  // process 0's file of --write-file same
  const std::string fifo = dir_.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  ASSERT_EQ(::mkfifo((fifo + ".0").c_str(), 0600), 0);  // process 0's file of --write-file fifo
  const std::string existing = dir_.file("existing");
  std::filesystem::create_directory(dir_.file("ro"));
  std::filesystem::permissions(dir_.file("ro"), std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  const std::vector<BadCase> cases = bench_bad_cases(dir_);
  expect_refused(cases);
  if (::geteuid() != 0) {  // root writes anywhere
    const Outcome o = run({"bench", "--write-file", dir_.file("ro/w"), "--write-size", "1M"});
    EXPECT_EQ(o.status, 2);
    EXPECT_NE(o.err.find("not writable"), std::string::npos) << o.err;
  }
  EXPECT_EQ(files(), (std::vector<std::string>{"empty", "existing", "fifo", "fifo.0", "folder", "folder.1", "ro", "same.0"}))
      << "a rejected run created a file";
  EXPECT_EQ(slurp(existing), "data") << "a rejected run truncated a file";
  EXPECT_EQ(slurp(dir_.file("same.0")), "data") << "a rejected run truncated a file";
  std::cout << "bad-input table: " << cases.size() << " rows\n";
}

// What can be known before any I/O is refused before any file is opened for writing: a block
// size the direct-I/O alignment of a target's filesystem refuses is exit status 2, one line, and
// an existing file keeps its bytes (a worker used to refuse it after opening the file, and the
// failed run then removed it).
TEST_F(Cli, AlignmentRefusalTouchesNoFile) {
  if (!supports_direct(dir_.path())) GTEST_SKIP() << "no direct I/O in " << dir_.path();
  const std::string bs = dir_.file("bs");
  std::ofstream(bs + ".0") << "data";
  const std::vector<std::vector<std::string>> refused = {
      {"bench", "--write-file", bs, "--write-size", "1M", "--block-size", "1000"},
      {"bench", "--write-file", bs, "--write-size", "1M", "--block-size", "1000", "--atomic-replace"},
      {"bench", "--write-file", bs, "--write-size", "1M", "--block-size", "1000", "--threads", "2"},
      {"bench", "--write-file", dir_.file("fresh"), "--write-size", "1M", "--block-size", "1000"},
      {"bench", "--read-file", bs + ".0", "--block-size", "1000"},
  };
  for (const auto& args : refused) {
    std::string shown;
    for (const auto& a : args) shown += a + " ";
    const Outcome o = run(args);
    EXPECT_EQ(o.status, 2) << shown << "\n" << o.err;
    EXPECT_NE(o.err.find("--block-size 1000 is not a multiple of the direct-I/O alignment"), std::string::npos)
        << shown << "\n" << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
    EXPECT_EQ(slurp(bs + ".0"), "data") << shown << ": the existing file was changed";
  }
  EXPECT_EQ(files(), (std::vector<std::string>{"bs.0"})) << "a refused run created a file";
  // Buffered I/O has no alignment to meet: the same block size runs.
  const Outcome ok = run({"bench", "--write-file", dir_.file("buffered"), "--write-size", "1M", "--block-size", "1000",
                          "--direct", "off", "--validate"});
  EXPECT_EQ(ok.status, 0) << ok.err;
}

// Folders on one filesystem share its free space: writers spread over them are counted together.
TEST_F(Cli, FreeSpaceIsCheckedPerFilesystem) {
  ScratchMount small(dir_.path(), "small", "tmpfs", "size=64m");
  if (!small.ok()) GTEST_SKIP() << "cannot mount a tmpfs: " << small.why_not();
  const std::string a = small.path() + "/a", b = small.path() + "/b";
  std::filesystem::create_directory(a);
  std::filesystem::create_directory(b);
  const Outcome o = run({"bench", "--write-file", "x", "--folder", a, "--folder", b, "--threads", "2", "--write-size", "40M"});
  EXPECT_EQ(o.status, 2) << o.err;
  EXPECT_NE(o.err.find("does not fit in " + a + ", " + b), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("on their one filesystem"), std::string::npos) << o.err;
  EXPECT_TRUE(std::filesystem::is_empty(a) && std::filesystem::is_empty(b)) << "a refused run created a file";
  const Outcome fits = run({"bench", "--write-file", "x", "--folder", a, "--folder", b, "--threads", "2", "--write-size", "20M"});
  EXPECT_EQ(fits.status, 0) << fits.err;
}

// An unreadable file (for root: run as nobody, since root reads through permission bits).
TEST_F(Cli, UnreadableFileIsRefused) {
  const std::string secret = dir_.file("secret");
  std::ofstream(secret) << "data";
  ASSERT_EQ(::chmod(secret.c_str(), 0), 0);
  std::vector<std::string> args{"bench", "--read-file", secret};
  Outcome o;
  if (::geteuid() == 0) {
    // nobody needs to reach the file and the program: open the test folder for it.
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
    o = run_prefixed({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}, args);
    if (o.status == 127 || o.err.find("setpriv") != std::string::npos) GTEST_SKIP() << "cannot run as nobody: " << o.err;
  } else {
    o = run(args);
  }
  EXPECT_EQ(o.status, 2) << o.err;
  EXPECT_NE(o.err.find("--read-file " + secret + ": Permission denied"), std::string::npos) << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
}

TEST_F(Cli, HarnessSpellingsAreAccepted) {
  const Outcome o = run({"bench", "--write_file", dir_.file("u"), "--write_size", "1M", "--block_size", "64K",
                         "--queue_depth", "4", "--single_submit", "--sequential_requests", "--warmup_loops", "1"});
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(file_size(dir_.file("u.0")), 1u << 20);
}

}  // namespace
}  // namespace swapio::test
