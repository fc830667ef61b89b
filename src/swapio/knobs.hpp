// The knob table: every knob of Config once, with its name, kind, default (Config's), rule, and
// how it is spelled in text, JSON, on the command line and in DeepSpeed's "aio" config block.
// Config::validate, the command line's options, bench's JSON, profiles, tune's space and the
// argv the perf suite builds are all made from it, so a new spelling is a table entry, not code.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "swapio/config.hpp"

namespace swapio {

enum class KnobKind {
  size,    // bytes: "1048576", "64K", "8MiB" (K/M/G/T suffixes, powers of 1024)
  count,   // a whole decimal number
  flag,    // true or false
  choice,  // one word of a list
};

struct Knob {
  std::string_view name{};      // the Config member (and DeepSpeed's name): "intra_op_parallelism"
  std::string_view key{};       // JSON, profiles, tune spaces: "io_parallel"
  KnobKind kind = KnobKind::flag;
  std::string_view flag{};      // the command line ("" where it takes none): "--io-parallel"
  std::string_view alias{};     // the seed harness's spelling of the flag: "--io_parallel"
  std::string_view off_flag{};  // a flag knob's spelling for false where its default is true
  std::string_view off_alias{};
  bool deepspeed = false;     // a key of DeepSpeed's "aio" config block
  std::string_view help{};
  std::string_view off_help{};
  std::uint64_t min = 0, max = 0;  // the rule of size and count knobs: min <= value <= max
  std::string_view below{};          // why a value under min is refused: "is invalid: ..."
  std::string_view above{};          // and one over max: "is too large: ..."
  std::string_view choices{};        // a choice knob's words, for help: "auto|uring|aio|psync"
  std::string_view bare{};           // a choice knob's value when its flag is given alone ("on")

  // The value in c as text set() reads back: "1M", "4097", "true", "auto".
  std::string (*get)(const Config& c) = nullptr;
  // The value in c as a number: a size or count, 0/1 for a flag (choices: 0).
  std::uint64_t (*number)(const Config& c) = nullptr;
  // Sets the knob in c from text in the syntax of its kind (its range is check()'s). Throws
  // ConfigError naming the text and what was expected.
  void (*set)(Config& c, std::string_view text) = nullptr;

  // Throws ConfigError "<name> <value> <below|above>" when c's value breaks the rule.
  void check(const Config& c) const;
};

std::span<const Knob> knobs() noexcept;
// The knob with this key, name, flag or alias; null when none has it.
const Knob* find_knob(std::string_view word) noexcept;

// Parses a whole decimal number (no sign, no leading zero, no base prefix) of at most `max`.
// Throws ConfigError naming the text.
std::uint64_t parse_count(std::string_view s, std::uint64_t max = UINT32_MAX);
// A byte count in the shortest form parse_size reads back: "1M", "64K", "4097".
std::string size_text(std::uint64_t bytes);

}  // namespace swapio
