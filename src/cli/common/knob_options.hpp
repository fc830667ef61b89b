// The knob table (swapio/knobs.hpp) in the command's spellings: CLI11 options, the JSON a bench
// parent sends its workers and reports, the JSON of profiles and tune spaces, and the argv of a
// `swapio bench` run. Each is made from the table; nothing here names a knob.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "swapio/config.hpp"
#include "swapio/knobs.hpp"

namespace swapio::cli {

// What the command line gave, by key: text for valued knobs, on/off flags for flag knobs.
struct KnobArgs {
  std::map<std::string, std::string> text;
  std::map<std::string, CLI::Option*> options, off_options;  // to tell whether each was given
  std::map<std::string, bool> on, off;
};

// Registers every knob that has a command-line spelling, with its help and default.
void add_knob_options(CLI::App& app, KnobArgs& args);
// Sets what was given into config, each value checked by its knob's rule; errors name the flag
// ("--block-size 0: block_size 0 is invalid: ..."). Throws ConfigError.
void apply_knob_options(const KnobArgs& args, Config& config);
// Whether the knob `key` was given on the command line (a flag in either spelling).
bool knob_given(const KnobArgs& args, const std::string& key);

// Every knob of config by key: sizes and counts as numbers, flags as booleans, choices as words.
nlohmann::json knobs_to_json(const Config& config);
// One knob's value from JSON (a number or a size string, a boolean, a word) into config, checked
// by its rule. Throws ConfigError "<where>: ...".
void knob_from_json(const Knob& knob, const nlohmann::json& value, Config& config, const std::string& where);
// The knobs of j (an object; other keys are left to the caller) into a default Config.
Config config_from_json(const nlohmann::json& j);

// The `swapio bench` arguments that set every knob of config that differs from the default.
std::vector<std::string> knob_argv(const Config& config);

}  // namespace swapio::cli
