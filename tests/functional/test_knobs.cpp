// The command's knob options: argv and JSON round trips, errors that name the flag, and flag
// knobs given a value.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/knob_options.hpp"
#include "swapio/error.hpp"

namespace swapio::test {
namespace {

// The command's knob options parsed from argv into a default Config (apply's errors thrown).
Config parse_knobs(std::vector<std::string> argv) {
  CLI::App app;
  cli::KnobArgs args;
  cli::add_knob_options(app, args);
  std::reverse(argv.begin(), argv.end());  // CLI11 parses a reversed vector
  app.parse(argv);
  Config c;
  cli::apply_knob_options(args, c);
  return c;
}

// The argv the perf suite and qualify build for `swapio bench` sets, through the command's own
// options, exactly the configuration it was made from; and the JSON a worker gets reads back.
TEST(Knobs, CommandLineAndJsonRoundTrip) {
  Config c;
  c.block_size = 8 * kMiB;
  c.queue_depth = 8;
  c.single_submit = true;
  c.overlap_events = false;
  c.intra_op_parallelism = 2;
  c.engine = Engine::aio;
  c.staging = StageMode::always;
  c.device_chunk_size = 4097;
  c.sync = true;
  c.register_files = false;
  c.register_buffers = true;
  const std::vector<std::string> argv = cli::knob_argv(c);
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--no-register-files"), argv.end());
  EXPECT_EQ(cli::knob_argv(Config{}), std::vector<std::string>{}) << "defaults need no argument";
  EXPECT_EQ(cli::knobs_to_json(parse_knobs(argv)), cli::knobs_to_json(c));
  EXPECT_EQ(cli::knobs_to_json(cli::config_from_json(cli::knobs_to_json(c))), cli::knobs_to_json(c));
}

TEST(Knobs, CommandLineErrorsNameTheFlag) {
  const auto refusal = [](const std::vector<std::string>& argv) -> std::string {
    try {
      (void)parse_knobs(argv);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_EQ(refusal({"--block-size", "0"}), "--block-size 0: block_size 0 is invalid: it must be at least 1 byte");
  EXPECT_NE(refusal({"--queue_depth", "0x20"}).find("--queue-depth 0x20: '0x20' is not a whole decimal number"),
            std::string::npos);
  EXPECT_NE(refusal({"--overlap-events", "--sequential-requests"}).find("contradict"), std::string::npos);
  EXPECT_EQ(refusal({"--sequential_requests", "--io-parallel", "4"}), "(accepted)");
  EXPECT_NE(refusal({"--register-files", "--no-register-files"}).find("contradict"), std::string::npos);
}

// A flag knob given with a value means that value; its off spelling the opposite.
TEST(Knobs, FlagValuesAreHonoured) {
  const auto parsed = [](const std::vector<std::string>& argv) { return parse_knobs(argv); };
  EXPECT_FALSE(parsed({"--register-files=false"}).register_files);
  EXPECT_FALSE(parsed({"--no-register-files"}).register_files);
  EXPECT_TRUE(parsed({}).register_files);
  EXPECT_TRUE(parsed({"--overlap-events=true"}).overlap_events);
  EXPECT_FALSE(parsed({"--overlap-events=false"}).overlap_events);
  EXPECT_TRUE(parsed({"--single-submit"}).single_submit);
}

}  // namespace
}  // namespace swapio::test
