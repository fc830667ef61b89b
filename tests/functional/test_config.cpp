// Config rules and the size parser: every bad value is rejected with a message that names it.
#include <gtest/gtest.h>

#include "swapio/config.hpp"
#include "swapio/error.hpp"
#include "swapio/knobs.hpp"

namespace swapio {
namespace {

std::string rejection(const Config& c) {
  try {
    c.validate();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, DefaultsMatchTheHarness) {
  Config c;
  EXPECT_EQ(c.block_size, 1024u * 1024u);
  EXPECT_EQ(c.queue_depth, 32u);
  EXPECT_FALSE(c.single_submit);
  EXPECT_TRUE(c.overlap_events);
  EXPECT_EQ(c.intra_op_parallelism, 1u);
  EXPECT_EQ(c.engine, Engine::automatic);
  EXPECT_EQ(c.direct, DirectMode::automatic);
  EXPECT_NO_THROW(c.validate());
}

TEST(Config, RejectsZeroBlockSize) {
  Config c;
  c.block_size = 0;
  EXPECT_NE(rejection(c).find("block_size 0"), std::string::npos) << rejection(c);
}

TEST(Config, RejectsHugeBlockSize) {
  Config c;
  c.block_size = kMaxBlockSize + 1;
  EXPECT_NE(rejection(c).find("block_size 1073741825 is too large"), std::string::npos) << rejection(c);
}

TEST(Config, RejectsUnalignedBlockSizeWithDirectOn) {
  Config c;
  c.block_size = 1000;
  c.direct = DirectMode::on;
  EXPECT_NE(rejection(c).find("block_size 1000 is not a multiple of the direct-I/O alignment"), std::string::npos)
      << rejection(c);
  c.direct = DirectMode::off;
  EXPECT_EQ(rejection(c), "") << "buffered I/O takes any block size";
}

TEST(Config, RejectsQueueDepthZeroAndBeyondTheRing) {
  Config c;
  c.queue_depth = 0;
  EXPECT_NE(rejection(c).find("queue_depth 0"), std::string::npos) << rejection(c);
  c.queue_depth = kMaxQueueDepth + 1;
  EXPECT_NE(rejection(c).find("queue_depth 32769 is beyond what an io_uring ring allows"), std::string::npos)
      << rejection(c);
  c.queue_depth = kMaxQueueDepth;
  EXPECT_EQ(rejection(c), "");
}

TEST(Config, RejectsParallelismZero) {
  Config c;
  c.intra_op_parallelism = 0;
  EXPECT_NE(rejection(c).find("intra_op_parallelism 0"), std::string::npos) << rejection(c);
}

TEST(Config, DeviceRingHasBounds) {
  Config c;
  EXPECT_EQ(c.device_chunk_size, 8u << 20);
  EXPECT_EQ(c.device_chunks, 8u);
  c.device_chunks = 1;
  EXPECT_NE(rejection(c).find("device_chunks 1"), std::string::npos) << rejection(c);
  c.device_chunks = kMaxDeviceChunks + 1;
  EXPECT_NE(rejection(c).find("device_chunks"), std::string::npos) << rejection(c);
  c.device_chunks = 2;
  c.device_chunk_size = 0;
  EXPECT_NE(rejection(c).find("device_chunk_size 0"), std::string::npos) << rejection(c);
  c.device_chunk_size = kMaxBlockSize + 1;
  EXPECT_NE(rejection(c).find("device_chunk_size"), std::string::npos) << rejection(c);
  c.device_chunk_size = 1;
  EXPECT_NO_THROW(c.validate());
}

TEST(ParseSize, AcceptsSuffixesAsPowersOf1024) {
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("4096"), 4096u);
  EXPECT_EQ(parse_size("64K"), 64u << 10);
  EXPECT_EQ(parse_size("64k"), 64u << 10);
  EXPECT_EQ(parse_size("1M"), 1u << 20);
  EXPECT_EQ(parse_size("1MiB"), 1u << 20);
  EXPECT_EQ(parse_size("1MB"), 1u << 20);
  EXPECT_EQ(parse_size("2G"), 2ull << 30);
  EXPECT_EQ(parse_size("3T"), 3ull << 40);
  EXPECT_EQ(parse_size("512B"), 512u);
  // Any case, as the grammar says (found by fuzz_size: "1MIB" was refused while "1MiB" passed).
  EXPECT_EQ(parse_size("1MIB"), 1u << 20);
  EXPECT_EQ(parse_size("1mib"), 1u << 20);
  EXPECT_EQ(parse_size("2gB"), 2ull << 30);
  EXPECT_EQ(parse_size("7b"), 7u);
}

TEST(ParseSize, RejectsWhatIsNotAWholeSize) {
  for (const char* bad : {"", "12Q", "-1", "1.5M", "M", " 1M", "1M ", "1MM", "1Mx", "0x10", "99999999999999999999",
                          "17179869184G", "1BiB", "1KIBB", "1iB", "1 K", "16777216T"}) {
    try {
      parse_size(bad);
      ADD_FAILURE() << "'" << bad << "' was accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("size '") + bad + "'"), std::string::npos) << e.what();
    }
  }
}

TEST(ParseSize, SaysFractionsAreNotAccepted) {
  for (const char* bad : {"1.5M", "0.5G", "2,5K", "1."}) {
    try {
      parse_size(bad);
      ADD_FAILURE() << "'" << bad << "' was accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("fractions are not accepted"), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find("unknown suffix"), std::string::npos) << e.what();
    }
  }
}

TEST(ParseEnums, NamesTheBadValue) {
  EXPECT_EQ(parse_engine("uring"), Engine::uring);
  EXPECT_EQ(parse_engine("psync"), Engine::psync);
  EXPECT_EQ(parse_engine("aio"), Engine::aio);
  EXPECT_EQ(parse_engine("libaio"), Engine::aio);
  EXPECT_EQ(parse_engine("auto"), Engine::automatic);
  EXPECT_EQ(parse_direct_mode("on"), DirectMode::on);
  EXPECT_EQ(parse_direct_mode("off"), DirectMode::off);
  EXPECT_EQ(parse_direct_mode("auto"), DirectMode::automatic);
  EXPECT_THROW(
      try { parse_engine("spdk"); } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(), "engine 'spdk' is unknown: use auto, uring, aio or psync");
        throw;
      },
      ConfigError);
  EXPECT_THROW(parse_direct_mode("yes"), ConfigError);
}

TEST(FormatBytes, ReadsLikeAPerson) {
  EXPECT_EQ(format_bytes(4097), "4097 B (4.00 KiB)");
  EXPECT_EQ(format_bytes(4095), "4095 B (4.00 KiB)");
  EXPECT_EQ(format_bytes(1u << 20), "1 MiB");
  EXPECT_EQ(format_bytes(3u << 10), "3 KiB");
  EXPECT_EQ(format_bytes(511), "511 B");
  EXPECT_EQ(format_bytes((1ull << 30) + 1), "1073741825 B (1.00 GiB)");
}

// The knob table: every knob reads back what it writes, is found by each of its spellings, and
// its rule is the one Config::validate applies.
TEST(Knobs, EveryKnobRoundTripsItsText) {
  EXPECT_EQ(knobs().size(), 15u);
  Config changed;
  changed.block_size = 3 * kMiB;
  changed.queue_depth = 7;
  changed.single_submit = true;
  changed.overlap_events = false;
  changed.intra_op_parallelism = 5;
  changed.engine = Engine::psync;
  changed.direct = DirectMode::off;
  changed.register_files = false;
  changed.register_buffers = true;
  changed.staging = StageMode::never;
  changed.device_chunk_size = 4097;
  changed.device_chunks = 3;
  changed.gds = GdsMode::off;
  changed.sync = true;
  changed.atomic_replace = true;
  for (const Knob& k : knobs()) {
    SCOPED_TRACE(std::string(k.key));
    const Config defaults;
    EXPECT_NE(k.get(changed), k.get(defaults)) << "the test does not change this knob";
    Config c;
    k.set(c, k.get(changed));
    EXPECT_EQ(k.get(c), k.get(changed));
    EXPECT_EQ(k.number(c), k.number(changed));
    EXPECT_EQ(find_knob(k.key), &k);
    EXPECT_EQ(find_knob(k.name), &k);
    if (!k.flag.empty()) {
      EXPECT_EQ(find_knob(k.flag), &k);
    }
    if (!k.alias.empty()) {
      EXPECT_EQ(find_knob(k.alias), &k);
    }
  }
  EXPECT_EQ(find_knob("--blok-size"), nullptr);
  EXPECT_EQ(find_knob(""), nullptr);
  EXPECT_EQ(find_knob("io_parallel")->name, "intra_op_parallelism");
}

TEST(Knobs, RulesAreTheValidationRules) {
  for (const Knob& k : knobs()) {
    if (k.kind != KnobKind::size && k.kind != KnobKind::count) continue;
    SCOPED_TRACE(std::string(k.key));
    for (const std::uint64_t bad : {k.min - 1, k.max + 1}) {
      if (bad > k.max && k.max == UINT32_MAX) continue;
      Config c;
      k.set(c, std::to_string(bad));
      try {
        k.check(c);
        ADD_FAILURE() << bad << " passed the knob's rule";
      } catch (const ConfigError& e) {
        EXPECT_EQ(rejection(c), e.what()) << "Config::validate words it otherwise";
        EXPECT_NE(std::string(e.what()).find(std::string(k.name) + " " + std::to_string(bad)), std::string::npos) << e.what();
      }
    }
    Config c;
    k.set(c, std::to_string(k.min));
    EXPECT_NO_THROW(k.check(c));
    k.set(c, std::to_string(k.max));
    EXPECT_NO_THROW(k.check(c));
  }
}

TEST(Knobs, TextIsCheckedForItsKind) {
  Config c;
  const auto refusal = [&](std::string_view key, std::string_view text) -> std::string {
    try {
      find_knob(key)->set(c, text);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_NE(refusal("queue_depth", "0x20").find("'0x20' is not a whole decimal number"), std::string::npos);
  EXPECT_NE(refusal("queue_depth", "010").find("leading zero"), std::string::npos);
  EXPECT_NE(refusal("queue_depth", "-1").find("not a whole decimal number"), std::string::npos);
  EXPECT_NE(refusal("queue_depth", "").find("not a whole decimal number"), std::string::npos);
  EXPECT_NE(refusal("queue_depth", "99999999999").find("too large"), std::string::npos);
  EXPECT_NE(refusal("block_size", "12Q").find("size '12Q' is invalid"), std::string::npos);
  EXPECT_NE(refusal("sync", "yes").find("not true or false"), std::string::npos);
  EXPECT_NE(refusal("engine", "spdk").find("engine 'spdk' is unknown"), std::string::npos);
  EXPECT_EQ(refusal("block_size", "8MiB"), "(accepted)");
  EXPECT_EQ(c.block_size, 8 * kMiB);
}

TEST(Knobs, SizeTextIsShortAndReadsBack) {
  EXPECT_EQ(size_text(kMiB), "1M");
  EXPECT_EQ(size_text(64 * 1024), "64K");
  EXPECT_EQ(size_text(3 * kGiB), "3G");
  EXPECT_EQ(size_text(4097), "4097");
  EXPECT_EQ(size_text(0), "0");
  for (const std::uint64_t v : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1536}, kMiB + 512, std::uint64_t{1} << 45}) {
    EXPECT_EQ(parse_size(size_text(v)), v) << size_text(v);
  }
}

}  // namespace
}  // namespace swapio
