// `swapio ds_io` in ds_io's own terms: its errors name its options as the user typed them (never
// the `swapio bench` spelling of the line it runs), the notes where DeepSpeed's ds_io would read
// --folder_to_device_mapping otherwise, and its --help through a link named ds_io.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "cli_fixture.hpp"
#include "swapio/config.hpp"
#include "swapio/file.hpp"

namespace swapio::test {
namespace {

// bench's spellings of the options a ds_io line is translated into, and bench's own options.
const std::vector<std::string> kBenchSpellings = {
    "--write-size", "--block-size", "--queue-depth", "--io-parallel", "--warmup-loops", "--folder-to-device-mapping",
    "--threads",    "--write-file", "--read-file",   "--handle",      "--direct",       "--single-submit",
    "--overlap-events", "--sequential-requests", "--stall-timeout"};

class DsIoCli : public Cli {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.file("nvme0"));
    std::filesystem::create_directories(dir_.file("nvme1"));
  }
  // Each row refused in one line holding `message` and no bench spelling, exit status 2,
  // nothing on stdout.
  void expect_in_ds_io_words(const std::vector<BadCase>& cases) {
    for (const BadCase& c : cases) {
      std::string shown;
      for (const auto& a : c.args) shown += a.size() > 40 ? "... " : a + " ";
      const Outcome o = run(c.args);
      EXPECT_EQ(o.status, 2) << shown << "\n" << o.err;
      EXPECT_NE(o.err.find(c.message), std::string::npos) << shown << "\nstderr: " << o.err;
      EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << shown << "\nstderr: " << o.err;
      EXPECT_EQ(o.out, "") << shown;
      for (const std::string& bench : kBenchSpellings) {
        EXPECT_EQ(o.err.find(bench), std::string::npos) << shown << ": " << bench << " in: " << o.err;
      }
    }
  }
  std::vector<std::string> line(std::vector<std::string> extra) const {
    std::vector<std::string> args{"ds_io", "--folder", "nvme0", "--io_size", "1M"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  std::vector<std::string> entries(const std::vector<std::string>& mapping, std::vector<std::string> extra) const {
    std::vector<std::string> args{"ds_io", "--folder_to_device_mapping"};
    args.insert(args.end(), mapping.begin(), mapping.end());
    args.insert(args.end(), {"--io_size", "1M"});
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
};

// Sizes and counts: every bad value named by the option the user typed.
TEST_F(DsIoCli, ValueErrorsNameTheOptionsAsTyped) {
  expect_in_ds_io_words({
      {line({"--block_size", "0"}), "swapio ds_io: --block_size 0: block_size 0 is invalid"},
      {line({"--block_size", "abc"}), "swapio ds_io: --block_size abc: size 'abc' is invalid"},
      {line({"--block_size", "-1"}), "swapio ds_io: --block_size -1: size '-1' is invalid"},
      {line({"--block_size", "2G"}), "swapio ds_io: --block_size 2G: block_size 2147483648 is too large"},
      {{"ds_io", "--folder", "nvme0", "--io_size", "2000T"}, "swapio ds_io: --io_size 2000T: larger than 1 PiB"},
      {{"ds_io", "--folder", "nvme0", "--io_size", "1000T"}, "swapio ds_io: --io_size 1000 TiB x 1 file(s) does not fit in"},
      {{"ds_io", "--folder", "nvme0", "--io_size", "1000T", "--multi_process", "2"},
       "swapio ds_io: --io_size 1000 TiB x 2 file(s) does not fit in"},
      {line({"--queue_depth", "0"}), "swapio ds_io: --queue_depth 0: queue_depth 0 is invalid"},
      {line({"--queue_depth", "abc"}), "swapio ds_io: --queue_depth abc: 'abc' is not a whole decimal number"},
      {line({"--queue_depth", "99999"}), "swapio ds_io: --queue_depth 99999: queue_depth 99999 is beyond"},
      {line({"--io_parallel", "0"}), "swapio ds_io: --io_parallel 0: intra_op_parallelism 0 is invalid"},
      {line({"--io_parallel", "abc"}), "swapio ds_io: --io_parallel abc: 'abc' is not a whole decimal number"},
      {line({"--io_parallel", "5000"}), "swapio ds_io: --io_parallel 5000: intra_op_parallelism 5000 is too large"},
      {line({"--loops", "0"}), "swapio ds_io: --loops 0: at least 1 timed loop"},
      {line({"--loops", "abc"}), "swapio ds_io: --loops abc: 'abc' is not a whole decimal number"},
      {line({"--loops", "2000000"}), "swapio ds_io: --loops/--warmup_loops: at most 1000000"},
      {line({"--warmup_loops", "abc"}), "swapio ds_io: --warmup_loops abc: 'abc' is not a whole decimal number"},
      {line({"--warmup_loops", "x", "--include_warmup_time"}), "swapio ds_io: --warmup_loops x: 'x' is not"},
      {line({"--warmup_loops", "2000000"}), "swapio ds_io: --loops/--warmup_loops: at most 1000000"},
      {line({"--multi_process", "2000"}), "swapio ds_io: --multi_process 2000: at most 1024"},
      {line({"--multi_process", "abc"}), "--multi_process = abc"},
  });
}

// Where the folder's filesystem has a direct-I/O alignment, a block size off it is refused in
// ds_io's words, without bench's advice to turn --direct off (ds_io has no such option).
TEST_F(DsIoCli, BlockSizeOffTheDirectAlignmentNamesBlockSize) {
  const std::uint32_t align = direct_offset_alignment(dir_.file("nvme0"), DirectMode::automatic);
  if (align <= 1) GTEST_SKIP() << dir_.path() << " has no direct-I/O alignment to miss";
  const std::string odd = std::to_string(align + 1);
  expect_in_ds_io_words({
      {line({"--block_size", odd}),
       "swapio ds_io: --block_size " + odd + " is not a multiple of the direct-I/O alignment " + std::to_string(align) +
           " of nvme0 (use a multiple)"},
      {entries({"nvme0:0"}, {"--block_size", odd}), "swapio ds_io: --block_size " + odd + " is not a multiple"},
  });
}

TEST_F(DsIoCli, MappingErrorsNameTheMapping) {
  std::vector<std::string> many;
  for (int i = 0; i < 1025; ++i) many.push_back("nvme0:" + std::to_string(i));
  expect_in_ds_io_words({
      {entries({"nvme0:x"}, {"--gpu", "--device", "emulated"}),
       "swapio ds_io: --folder_to_device_mapping nvme0:x: expected FOLDER:N with N a GPU number"},
      {entries({"nvme0:0", "nvme1:1"}, {"--gpu", "--device", "cuda:0"}),
       "swapio ds_io: --device cuda:0 and --folder_to_device_mapping: the mapping names the GPUs"},
      {entries(many, {}), "swapio ds_io: --folder_to_device_mapping of 1025 entries: at most 1024"},
      {entries({"nvme0:0", "nvme1:0"}, {"--queue_depth", "0"}), "swapio ds_io: --queue_depth 0: queue_depth 0 is invalid"},
  });
}

// A bad setting is refused before ds_io creates the read files: nothing is left behind.
TEST_F(DsIoCli, ABadSettingCreatesNoReadFile) {
  expect_in_ds_io_words({
      {line({"--read", "--queue_depth", "0"}), "swapio ds_io: --queue_depth 0: queue_depth 0 is invalid"},
      {line({"--read", "--block_size", "0"}), "swapio ds_io: --block_size 0: block_size 0 is invalid"},
      {entries({"nvme0:0", "nvme1:1"}, {"--read", "--io_parallel", "0"}), "swapio ds_io: --io_parallel 0:"},
  });
  EXPECT_TRUE(std::filesystem::is_empty(dir_.file("nvme0")));
  EXPECT_TRUE(std::filesystem::is_empty(dir_.file("nvme1")));
}

// The lines of stderr that start with "note: ".
std::vector<std::string> notes(const std::string& err) {
  std::vector<std::string> found;
  std::size_t at = 0;
  while (at < err.size()) {
    const std::size_t end = std::min(err.find('\n', at), err.size());
    if (err.compare(at, 6, "note: ") == 0) found.push_back(err.substr(at, end - at));
    at = end + 1;
  }
  return found;
}

// DeepSpeed's ds_io keys the mapping by device id: two entries for device 0 are one process
// there (the later folder replacing the earlier), two here, each writing its file. Said on
// stderr in one line; the run goes on.
TEST_F(DsIoCli, MappingNoteWhenDeepSpeedWouldRunAnotherCount) {
  const Outcome o = run(entries({"nvme0:0", "nvme1:0"}, {"--loops", "1", "--warmup_loops", "0"}));
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(notes(o.err), std::vector<std::string>{
                              "note: DeepSpeed's ds_io would run 1 process for this mapping (it keys entries by device "
                              "id, a later folder replacing an earlier one); swapio runs 2, one per entry"})
      << o.err;
  EXPECT_NE(o.out.find("2 processes"), std::string::npos) << o.out;
  EXPECT_TRUE(std::filesystem::exists(dir_.file("nvme0/_aio_write_1048576.pt.0_0")));
  EXPECT_TRUE(std::filesystem::exists(dir_.file("nvme1/_aio_write_1048576.pt.1_0")));

  // Three entries, two device ids: 2 there, 3 here.
  const Outcome three = run(entries({"nvme0:0", "nvme1:1", "nvme0:1"}, {"--loops", "1", "--warmup_loops", "0"}));
  ASSERT_EQ(three.status, 0) << three.err;
  ASSERT_EQ(notes(three.err).size(), 1u) << three.err;
  EXPECT_NE(notes(three.err)[0].find("would run 2 processes for this mapping"), std::string::npos) << three.err;
  EXPECT_NE(notes(three.err)[0].find("swapio runs 3, one per entry"), std::string::npos) << three.err;
}

// A folder with ':' in its name: swapio splits the entry at the last ':', DeepSpeed's ds_io at
// the first (another folder, and another device id).
TEST_F(DsIoCli, MappingNoteWhenDeepSpeedWouldSplitElsewhere) {
  std::filesystem::create_directories(dir_.file("a:b"));
  const Outcome o = run(entries({"a:b:0"}, {"--loops", "1", "--warmup_loops", "0"}));
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(notes(o.err), std::vector<std::string>{
                              "note: DeepSpeed's ds_io would split --folder_to_device_mapping a:b:0 at the first ':' "
                              "(folder a); swapio splits it at the last (folder a:b, device 0)"})
      << o.err;
  EXPECT_TRUE(std::filesystem::exists(dir_.file("a:b/_aio_write_1048576.pt.0_0")));

  // Both at once: a:b:0 and a:b:1 are device "b" twice there, one process; two here.
  const Outcome both = run(entries({"a:b:0", "a:b:1"}, {"--loops", "1", "--warmup_loops", "0"}));
  ASSERT_EQ(both.status, 0) << both.err;
  const std::vector<std::string> said = notes(both.err);
  ASSERT_EQ(said.size(), 2u) << both.err;
  EXPECT_NE(said[0].find("would run 1 process for this mapping"), std::string::npos) << both.err;
  EXPECT_NE(said[1].find("a:b:0 at the first ':' (folder a)"), std::string::npos) << both.err;
  EXPECT_NE(said[1].find("1 more entry has a ':' in its folder"), std::string::npos) << both.err;
}

// A mapping both read alike (one device id per entry, no ':' in a folder): no note.
TEST_F(DsIoCli, NoMappingNoteWhenBothReadItAlike) {
  for (const auto& args : {entries({"nvme0:0", "nvme1:1"}, {"--loops", "1", "--warmup_loops", "0"}),
                           entries({"nvme0:0", "nvme1:1"}, {"--read", "--loops", "1", "--warmup_loops", "0"}),
                           line({"--loops", "1", "--warmup_loops", "0", "--multi_process", "2"})}) {
    const Outcome o = run(args);
    ASSERT_EQ(o.status, 0) << o.err;
    EXPECT_EQ(o.err.find("note:"), std::string::npos) << o.err;
  }
}

TEST_F(DsIoCli, HelpSaysHowTheMappingIsRead) {
  const Outcome o = run({"ds_io", "--help"});
  ASSERT_EQ(o.status, 0) << o.err;
  for (const char* what : {"one process per entry", "split at the last ':'", "one process per distinct N",
                           "splits at the first ':'", "a note on stderr"}) {
    EXPECT_NE(o.out.find(what), std::string::npos) << what << " missing in\n" << o.out;
  }
}

// The usage line of --help through a link named ds_io: the name it was run by, alone (not
// followed by the subcommand word it stands for).
TEST_F(DsIoCli, HelpThroughALinkNamesTheLink) {
  std::filesystem::create_symlink(SWAPIO_CLI_PATH, dir_.file("ds_io"));
  struct Way {
    std::string script;  // how bash runs the link
    std::string usage;   // the usage line expected
  };
  const std::vector<Way> ways = {
      {"exec ./ds_io \"$@\"", "Usage: ./ds_io [OPTIONS]"},
      {"exec \"$PWD/ds_io\" \"$@\"", "Usage: " + dir_.file("ds_io") + " [OPTIONS]"},
      {"PATH=\"$PWD:$PATH\" exec ds_io \"$@\"", "Usage: ds_io [OPTIONS]"},
  };
  for (const Way& way : ways) {
    const Outcome o = run_prefixed({"bash", "-c", way.script}, {"--help"});
    ASSERT_EQ(o.status, 0) << way.script << "\n" << o.err;
    std::vector<std::string> usage;
    std::size_t at = 0;
    while ((at = o.out.find("Usage:", at)) != std::string::npos) {
      usage.push_back(o.out.substr(at, o.out.find('\n', at) - at));
      ++at;
    }
    EXPECT_EQ(usage, std::vector<std::string>{way.usage}) << way.script << "\n" << o.out;
    EXPECT_NE(o.out.find("--folder_to_device_mapping"), std::string::npos) << "not ds_io's help:\n" << o.out;
  }
  // As a subcommand, the usage names swapio and the subcommand.
  const Outcome sub = run({"ds_io", "--help"});
  ASSERT_EQ(sub.status, 0) << sub.err;
  EXPECT_NE(sub.out.find(std::string("Usage: ") + SWAPIO_CLI_PATH + " ds_io [OPTIONS]\n"), std::string::npos) << sub.out;
}

}  // namespace
}  // namespace swapio::test
