// `swapio bench` driven as a user drives it: the real binary, its exit status, its output.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <expat.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <map>
#include <filesystem>
#include <functional>
#include <iostream>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "cli_fixture.hpp"
#include "support.hpp"
#include "swapio/device.hpp"

namespace swapio::test {
namespace {

// Waits until `ready` holds (polled every 20 ms, at most `limit`).
bool wait_until(const std::function<bool()>& ready, std::chrono::seconds limit = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!ready()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

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
  const std::string w = dir_.file("w");
  const std::vector<BadCase> cases = {
      {{}, "A subcommand is required"},
      {{"bench"}, "nothing to do"},
      {{"bench", "--read-file", dir_.file("missing")}, "--read-file " + dir_.file("missing") + ": No such file"},
      {{"bench", "--read-file", dir_.file("folder")}, "is a directory"},
      {{"bench", "--read-file", "/dev/null"}, "not a regular file"},
      {{"bench", "--write-file", dir_.file("no/such/w"), "--write-size", "1M"}, "No such file or directory"},
      {{"bench", "--write-file", w, "--write-size", "12Q"}, "size '12Q' is invalid"},
      {{"bench", "--write-file", w, "--write-size", "-1"}, "size '-1' is invalid"},
      {{"bench", "--write-file", w, "--write-size", "1.5M"}, "size '1.5M' is invalid"},
      {{"bench", "--write-file", w, "--write-size", "0"}, "--write-size 0"},
      {{"bench", "--write-file", w}, "--write-file needs --write-size"},
      {{"bench", "--write-size", "1M", "--read-file", dir_.file("existing")}, "--write-size needs --write-file"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--threads", "0"}, "--threads 0"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--threads", "-1"}, "--threads"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--threads", "100000"}, "--threads 100000: at most"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--handle", "--io-parallel", "0"}, "--io-parallel 0"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--threads", "010"}, "leading zero"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--queue-depth", "0x20"}, "not a whole decimal number"},
      {{"bench", "--write-file", dir_.file("folder"), "--write-size", "1M", "--threads", "2"}, "folder.1 exists and is not a regular file"},
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
      {{"bench", "--write-file", w, "--write-size", "1M", "--folder-to-device-mapping", dir_.file("folder") + ":0"},
       "--folder-to-device-mapping needs --gpu"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--gpu", "--device", "emulated", "--folder-to-device-mapping",
        dir_.file("folder")}, "expected FOLDER:N"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--gpu", "--device", "emulated", "--folder-to-device-mapping",
        dir_.file("folder") + ":x"}, "expected FOLDER:N"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--gpu", "--device", "emulated", "--folder", dir_.file("folder"),
        "--folder-to-device-mapping", dir_.file("folder") + ":0"}, "not both"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--gpu", "--device", "emulated", "--device-chunks", "1"},
       "device_chunks 1"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--gpu", "--device", "emulated", "--device-chunk-size", "0"},
       "device_chunk_size 0"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--bogus"}, "--bogus"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--overlap-events", "--sequential-requests"}, "contradict"},
      {{"bench", "--write-file", w, "--write-size", "1M", "--folder", dir_.file("nofolder")}, "--folder"},
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
      {{"bench", "--read-file", dir_.file("empty")}, "the file is empty"},
      {{"bench", "--write-file", dir_.file("folder") + "/", "--write-size", "1M"}, "names a folder, not a file"},
      {{"bench", "--write-file", dir_.file("folder") + "/.", "--write-size", "1M"}, "names a folder, not a file"},
      {{"bench", "--write-file", w, "--write-size", "1.5M"}, "fractions are not accepted"},
      {{"bench", "--read-file", dir_.file("same.0"), "--write-file", dir_.file("same"), "--write-size", "1M"},
       "name the same file"},
      {{"bench", "--read-file", existing, "--sync"}, "--sync needs --write-file"},
      {{"bench", "--read-file", existing, "--atomic-replace"}, "--atomic-replace needs --write-file"},
  };
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

// The GPU path end to end on the emulated device: several processes, a folder-to-device mapping,
// both APIs, validation, and the device named in the JSON report.
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

// Whether text is well-formed XML, and the number of elements named `name` in it.
struct XmlCheck {
  bool well_formed = false;
  std::string error;
  int count = 0;
};
XmlCheck parse_xml(const std::string& text, const std::string& name) {
  XmlCheck c;
  struct Ctx {
    const std::string* name;
    int count;
  } ctx{&name, 0};
  XML_Parser p = XML_ParserCreate(nullptr);
  XML_SetUserData(p, &ctx);
  XML_SetStartElementHandler(p, [](void* data, const XML_Char* el, const XML_Char**) {
    auto* x = static_cast<Ctx*>(data);
    if (*x->name == el) ++x->count;
  });
  c.well_formed = XML_Parse(p, text.data(), static_cast<int>(text.size()), 1) == XML_STATUS_OK;
  if (!c.well_formed) c.error = XML_ErrorString(XML_GetErrorCode(p));
  c.count = ctx.count;
  XML_ParserFree(p);
  return c;
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

TEST_F(Cli, HarnessSpellingsAreAccepted) {
  const Outcome o = run({"bench", "--write_file", dir_.file("u"), "--write_size", "1M", "--block_size", "64K",
                         "--queue_depth", "4", "--single_submit", "--sequential_requests", "--warmup_loops", "1"});
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(file_size(dir_.file("u.0")), 1u << 20);
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

std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> kids;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = slurp(e.path().string() + "/stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) kids.push_back(std::stoi(name));
  }
  return kids;
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

// Starts a bench with `args`, waits for its workers, hands them to `act`, and returns the outcome.
Outcome run_and_act(const TempDir& dir, const std::vector<std::string>& args, unsigned workers,
                    const std::function<void(pid_t bench, const std::vector<pid_t>&)>& act) {
  const std::string out = dir.file(".out"), err = dir.file(".err");
  const Leftovers leftovers(dir.path(), args);
  const pid_t bench = spawn_cli(args, out, err, dir.path());
  std::vector<pid_t> kids;
  for (int i = 0; i < 500 && kids.size() < workers; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    kids = children_of(bench);
  }
  EXPECT_EQ(kids.size(), workers) << "the workers did not start";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  act(bench, kids);
  Outcome o;
  o.status = wait_exit(bench, std::chrono::seconds(60));
  o.out = slurp(out);
  o.err = slurp(err);
  leftovers.check(bench, o.status, o.err);
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  for (pid_t k : kids) EXPECT_NE(::kill(k, 0), 0) << "worker " << k << " outlived the run";
  return o;
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

bool has_entry_starting(const std::string& folder, const std::string& prefix) {
  std::error_code ec;
  for (std::filesystem::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().starts_with(prefix)) return true;
  }
  return false;
}

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


namespace ds_io_checks {

// ds_io's summary lines, exactly: "Task Read Latency = 0.1234 sec", "... Speed = 1.23 GB/sec".
// Returns the four values (task latency, task speed, e2e latency, e2e speed), checking the form.
std::vector<double> summary(const std::string& out, const std::string& op) {
  std::vector<double> values;
  for (const char* what : {"Task", "E2E"}) {
    for (const char* metric : {"Latency", "Speed"}) {
      const std::string unit = std::string(metric) == "Latency" ? "sec" : "GB/sec";
      const std::regex line("(^|\n)" + std::string(what) + " " + op + " " + metric + " = ([0-9]+\\.[0-9]+) " + unit + "\n");
      std::smatch m;
      EXPECT_TRUE(std::regex_search(out, m, line)) << what << " " << op << " " << metric << " line missing in\n" << out;
      values.push_back(m.size() > 2 ? std::stod(m[2]) : 0);
    }
  }
  return values;
}

}  // namespace ds_io_checks

// Argument lines of ds_io's documented usage and of its sweep tool's grid (block sizes, queue
// depths, single submit, sequential requests, io_parallel, multi_process, read/write, both
// engines, the GPU path on the emulated device), each end to end at a small size: the files
// named as ds_io names them, the summary lines in its exact form, the bytes validated.
TEST_F(Cli, DsIoRunsItsArgumentLines) {
  std::filesystem::create_directories(dir_.file("nvme0"));
  std::filesystem::create_directories(dir_.file("nvme1"));
  struct Line {
    std::vector<std::string> args;
    bool read;
    unsigned processes;
    std::vector<std::string> files;  // what must exist afterwards
  };
  const std::vector<Line> lines = {
      {{"--folder", "nvme0", "--io_size", "4M"}, false, 1, {"nvme0/_aio_write_4194304.pt.0_0"}},
      {{"--folder", "nvme0", "--io_size", "4M", "--read"}, true, 1, {"nvme0/_aio_read_4194304.pt.0_0"}},
      {{"--folder", "nvme0", "--io_size", "4M", "--block_size", "1M", "--queue_depth", "32", "--read", "--io_parallel",
        "2", "--multi_process", "1", "--loops", "3", "--warmup_loops", "1"},
       true, 1, {"nvme0/_aio_read_4194304.pt.0_0"}},
      {{"--folder", "nvme0", "--io_size", "2M", "--block_size", "64K", "--queue_depth", "128", "--single_submit",
        "--validate"},
       false, 1, {"nvme0/_aio_write_2097152.pt.0_0"}},
      {{"--folder", "nvme0", "--io_size", "2M", "--block_size", "8M", "--queue_depth", "4", "--sequential_requests",
        "--read", "--validate"},
       true, 1, {"nvme0/_aio_read_2097152.pt.0_0"}},
      {{"--folder", "nvme0", "--io_size", "3M", "--multi_process", "3", "--io_parallel", "4", "--validate"}, false, 3,
       {"nvme0/_aio_write_3145728.pt.0_0", "nvme0/_aio_write_3145728.pt.1_0", "nvme0/_aio_write_3145728.pt.2_0"}},
      {{"--folder", "nvme0", "--io_size", "3M", "--multi_process", "2", "--read", "--validate"}, true, 2,
       {"nvme0/_aio_read_3145728.pt.0_0", "nvme0/_aio_read_3145728.pt.1_0"}},
      {{"--folder", "nvme0", "--io_size", "1M", "--engine", "aio_basic", "--read", "--validate"}, true, 1,
       {"nvme0/_aio_read_1048576.pt.0"}},
      {{"--folder_to_device_mapping", "nvme0:0", "nvme1:1", "--io_size", "1M", "--read", "--validate"}, true, 2,
       {"nvme0/_aio_read_1048576.pt.0_0", "nvme1/_aio_read_1048576.pt.1_0"}},
      {{"--folder", "nvme1", "--io_size", "2M", "--gpu", "--device", "emulated", "--validate"}, false, 1,
       {"nvme1/_aio_write_2097152.pt.0_0"}},
      {{"--folder", "nvme1", "--io_size", "1M", "--different_file_each_iteration", "--loops", "2", "--validate",
        "--multi_process", "2"},
       false, 2,
       {"nvme1/_aio_write_1048576.pt.0_0", "nvme1/_aio_write_1048576.pt.0_1", "nvme1/_aio_write_1048576.pt.0_2",
        "nvme1/_aio_write_1048576.pt.1_2"}},
      {{"--folder", "nvme1", "--io_size", "1M", "--different_file_each_iteration", "--read", "--validate"}, true, 1,
       {"nvme1/_aio_read_1048576.pt.0_0", "nvme1/_aio_read_1048576.pt.0_1", "nvme1/_aio_read_1048576.pt.0_2",
        "nvme1/_aio_read_1048576.pt.0_3"}},
      {{"--folder", "nvme1", "--io_size", "2M", "--gpu", "--device", "emulated", "--read", "--validate", "--loops", "2",
        "--warmup_loops", "2", "--include_warmup_time", "--use_accelerator_pin_memory", "--slow_bounce_buffer"},
       true, 1, {"nvme1/_aio_read_2097152.pt.0_0"}},
  };
  for (const Line& line : lines) {
    std::vector<std::string> args{"ds_io"};
    args.insert(args.end(), line.args.begin(), line.args.end());
    std::string shown;
    for (const auto& a : args) shown += a + " ";
    const Outcome o = run(args);
    ASSERT_EQ(o.status, 0) << shown << "\n" << o.out << o.err;
    const std::vector<double> v = ds_io_checks::summary(o.out, line.read ? "Read" : "Write");
    ASSERT_EQ(v.size(), 4u);
    EXPECT_GT(v[0], 0) << shown;
    EXPECT_GT(v[3], 0) << shown;
    EXPECT_GE(v[2], v[0]) << shown << ": E2E latency includes the task's";
    for (const std::string& f : line.files) EXPECT_TRUE(std::filesystem::exists(dir_.file(f))) << shown << ": no " << f;
    if (std::find(args.begin(), args.end(), "--validate") != args.end()) {
      EXPECT_NE(o.out.find("validation: passed"), std::string::npos) << shown << "\n" << o.out;
    }
    // Loops as ds_io counts them: 3 timed after 1 warm-up by default, warm-ups counted with
    // --include_warmup_time.
    const bool include = std::find(args.begin(), args.end(), "--include_warmup_time") != args.end();
    const auto loops_at = std::find(args.begin(), args.end(), "--loops");
    const std::string loops = include ? "4 loops" : loops_at == args.end() ? "3 loops" : *(loops_at + 1) + " loops";
    EXPECT_NE(o.out.find(loops), std::string::npos) << shown << "\n" << o.out;
    EXPECT_NE(o.out.find(std::to_string(line.processes) + (line.processes == 1 ? " process" : " processes")),
              std::string::npos)
        << shown << "\n" << o.out;
  }
  // A read file made by ds_io is kept and read again, not recreated.
  const Outcome again = run({"ds_io", "--folder", "nvme0", "--io_size", "4M", "--read", "--validate"});
  EXPECT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(again.out.find("[Start] Create"), std::string::npos) << again.out;
}

// The same lines under the name ds_io (a link to swapio, as DeepSpeed's command is named).
TEST_F(Cli, DsIoRunsUnderItsOwnName) {
  std::filesystem::create_directories(dir_.file("nvme"));
  std::filesystem::create_symlink(SWAPIO_CLI_PATH, dir_.file("ds_io"));
  const Outcome o = run_prefixed({"bash", "-c", "exec ./ds_io \"$@\""},
                                 {"--folder", "nvme", "--io_size", "2M", "--read", "--io_parallel", "2"});
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(ds_io_checks::summary(o.out, "Read").size(), 4u);
  const Outcome help = run_prefixed({"bash", "-c", "exec ./ds_io \"$@\""}, {"--help"});
  EXPECT_EQ(help.status, 0) << help.err;
  for (const char* arg : {"--folder_to_device_mapping", "--io_size", "--multi_process", "--sequential_requests",
                          "--warmup_loops", "--include_warmup_time", "--use_gds", "Exit status"}) {
    EXPECT_NE(help.out.find(arg), std::string::npos) << arg << " is not in ds_io --help";
  }
}

// ds_io's validation errors, and what swapio cannot do: one line, exit status 2, no file.
TEST_F(Cli, DsIoBadLinesGetOneLineAndStatusTwo) {
  std::filesystem::create_directories(dir_.file("nvme"));
  write_plain(dir_.file("nvme/_aio_read_2097152.pt.0_0"), std::vector<std::byte>(1000));  // someone's, wrong size
  const std::vector<BadCase> cases = {
      {{"ds_io", "--io_size", "1M"}, "at least one of --folder or --folder_to_device_mapping must be specified"},
      {{"ds_io", "--folder", "nvme", "--folder_to_device_mapping", "nvme:0", "--io_size", "1M"},
       "cannot be specified together"},
      {{"ds_io", "--folder", "missing", "--io_size", "1M"}, "--folder missing: not a folder"},
      {{"ds_io", "--folder_to_device_mapping", "nvme", "--io_size", "1M"}, "missing delimiter (:)"},
      {{"ds_io", "--folder_to_device_mapping", "missing:0", "--io_size", "1M"}, "missing is not a folder"},
      {{"ds_io", "--folder", "nvme", "--io_size", "1M", "--engine", "fast"}, "--engine fast is invalid"},
      {{"ds_io", "--folder", "nvme", "--io_size", "1M", "--engine", "torch_io"}, "not supported"},
      {{"ds_io", "--folder", "nvme", "--io_size", "1M", "--use_gds", "--gpu"}, "no GPUDirect Storage"},
      {{"ds_io", "--folder", "nvme"}, "--io_size is required"},
      {{"ds_io", "--folder", "nvme", "--io_size", "0"}, "--io_size 0"},
      {{"ds_io", "--folder", "nvme", "--io_size", "1M", "--queue_depth", "0"}, "queue_depth"},
      {{"ds_io", "--folder", "nvme", "--io_size", "1M", "--multi_process", "0"}, "--multi_process 0"},
      {{"ds_io", "--folder", "nvme", "--io_size", "2M", "--read"}, "exists and is not a file of --io_size"},
  };
  expect_refused(cases);
  EXPECT_EQ(files(), (std::vector<std::string>{"nvme"}));
  EXPECT_EQ(std::filesystem::file_size(dir_.file("nvme/_aio_read_2097152.pt.0_0")), 1000u) << "someone's file was overwritten";
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_.file("nvme")), std::filesystem::directory_iterator()), 1);
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

// qualify --gpus: refused plainly where no GPU is visible, or with a bad list.
TEST_F(Cli, QualifyGpusIsRefusedWithTheReason) {
  std::string why;
  if (swapio::cuda_device_count(&why) > 0) GTEST_SKIP() << "a GPU is visible";
  expect_refused({
      {{"qualify", "--gpus", "all"}, "--gpus all: no CUDA device is visible"},
      {{"qualify", "--gpus", "0"}, "no CUDA device is visible"},
  });
}

// fleet-report: nodes qualified one by one (real runs, each under its own node name), merged.
TEST_F(Cli, FleetReportMergesNodeReports) {
  const auto profile = [&](const std::string& name) {
    const std::string path = dir_.file(name + ".json");
    // Runs of 4 MiB one after another on one disk differ a lot: this test is about the merge,
    // so the outlier rule is wide (the rule's own tests are in test_profile.cpp).
    std::ofstream(path) << nlohmann::json{
        {"name", name},
        {"rounds", 1},
        {"fleet", {{"outlier_fraction", 0.95}}},
        {"workloads",
         {{{"name", "w"}, {"op", "write"}, {"size", "4M"}, {"floor_gib_per_s", 0}},
          {{"name", "r"}, {"op", "read"}, {"size", "4M"}, {"floor_gib_per_s", 0}}}}};
    return path;
  };
  const std::string p = profile("fleet"), other = profile("other");
  std::filesystem::create_directory(dir_.file("q"));
  std::vector<std::string> reports;
  for (const std::string node : {"n1", "n2", "n3"}) {
    const std::string report = dir_.file(node + ".report");
    const Outcome o = run_prefixed({"env", "SWAPIO_FLEET_HOST=" + node},
                                   {"qualify", "--profile", p, "--folder", dir_.file("q"), "--json", report});
    ASSERT_EQ(o.status, 0) << o.out << o.err;
    EXPECT_EQ(nlohmann::json::parse(slurp(report)).at("node"), node);
    reports.push_back(report);
  }
  Outcome o = run({"fleet-report", reports[0], reports[1], reports[2], "--json", dir_.file("fleet.out"), "--junit",
                   dir_.file("fleet.xml")});
  EXPECT_EQ(o.status, 0) << o.out << o.err;
  for (const char* line : {"swapio fleet: profile fleet, 3 nodes", "fleet median", "verdict: PASS (3 of 3 nodes pass)"}) {
    EXPECT_NE(o.out.find(line), std::string::npos) << line << "\n" << o.out;
  }
  EXPECT_TRUE(std::regex_search(o.out, std::regex("^n2 +[0-9.]+ PASS +[0-9.]+ PASS +PASS$", std::regex::multiline))) << o.out;
  const nlohmann::json j = nlohmann::json::parse(slurp(dir_.file("fleet.out")));
  EXPECT_EQ(j.at("verdict"), "PASS");
  EXPECT_EQ(j.at("schema_version"), 1);
  EXPECT_EQ(j.at("nodes").size(), 3u);
  EXPECT_EQ(j.at("nodes")[0].at("report").at("workloads")[0].at("programs").at("swapio").at("gib_per_s").size(), 1u);
  EXPECT_NE(slurp(dir_.file("fleet.xml")).find("<testsuite name=\"n3\" tests=\"2\" failures=\"0\""), std::string::npos);

  // A node of another profile, the same node twice, a file that is not there: refused, exit 2.
  const std::string foreign = dir_.file("n4.report");
  ASSERT_EQ(run_prefixed({"env", "SWAPIO_FLEET_HOST=n4"},
                         {"qualify", "--profile", other, "--folder", dir_.file("q"), "--json", foreign}).status, 0);
  const std::string twin = dir_.file("twin.report");
  std::filesystem::copy_file(reports[0], twin);
  expect_refused({
      {{"fleet-report", reports[0], reports[1], foreign}, "ran profile other"},
      {{"fleet-report", reports[0], twin}, "node n1 appears twice (" + reports[0] + " and " + twin + ")"},
      {{"fleet-report", reports[0], dir_.file("gone.json")}, "gone.json: cannot be read"},
      {{"fleet-report", reports[0], p}, "not a swapio qualify report"},
  });
  const Outcome none = run({"fleet-report"});
  EXPECT_EQ(none.status, 2) << none.err;
}

TEST_F(Cli, QualifyFleetWithoutALauncherRunsAsAFleetOfOne) {
  if (run({"--version"}).out.find("MPI: yes") != std::string::npos) {
    std::filesystem::create_directory(dir_.file("q"));
    const std::string p = dir_.file("one.json");
    std::ofstream(p) << R"({"name": "one", "rounds": 1, "workloads": [
        {"name": "w", "op": "write", "size": "4M", "floor_gib_per_s": 0}]})";
    // Under AddressSanitizer: OpenMPI keeps allocations past MPI_Finalize (some in components it
    // has unloaded by then), which are not swapio's to free.
    const Outcome o = run_prefixed({"env", "ASAN_OPTIONS=detect_leaks=0"},
                                   {"qualify", "--fleet", "--profile", p, "--folder", dir_.file("q")});
    EXPECT_EQ(o.status, 0) << o.out << o.err;
    EXPECT_NE(o.out.find("swapio fleet: profile one, 1 node"), std::string::npos) << o.out;
  } else {
    expect_refused({{{"qualify", "--fleet"}, "--fleet: this build has no MPI"}});
  }
}

}  // namespace
}  // namespace swapio::test
