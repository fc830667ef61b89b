// `swapio tune`: find a folder's best settings without an exhaustive sweep. Every configuration
// of the space is screened with short write+read runs; the better quarter goes on to runs four
// times as long, and so on; the last few are confirmed with full-size interleaved rounds. The
// recommendation is the best by the confirmed figure (a write+read pair's combined GiB/s).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "swapio/config.hpp"

namespace swapio::cli {

// The knobs tune varies (keys of the knob table), in the order of its reports.
inline const std::vector<std::string> kTuneAxes = {"block_size", "queue_depth", "overlap_events", "single_submit",
                                                   "io_parallel"};

struct TuneSpace {
  // Each axis's values as the knob table reads them from JSON; the space is their product.
  std::map<std::string, nlohmann::json> axes = {
      {"block_size", {1ull << 20, 8ull << 20}},   {"queue_depth", {32, 128}},     {"overlap_events", {true, false}},
      {"single_submit", {false, true}},           {"io_parallel", {1, 2, 4, 8}}};
  std::uint64_t size = 1ull << 30;          // bytes of the confirming runs
  std::uint64_t screen_size = 64ull << 20;  // bytes of the first screening runs
  unsigned rounds = 3;                      // confirming rounds per leader
  unsigned leaders = 3;                     // configurations confirmed at full size

  // Every configuration, the last axis varying fastest. Throws ConfigError "<at>: <key>: ...".
  std::vector<Config> configurations(const std::string& at = "space") const;
};

// Throws ConfigError naming the file and the key (unknown keys, bad sizes, empty lists).
TuneSpace parse_tune_space(const nlohmann::json& j, const std::string& origin);

struct TuneOptions {
  std::string folder;
  std::string space;                   // JSON file overriding the default space
  std::string prefix = "swapio-tune";  // writes PREFIX.csv, .json, .svg and -aio.json
};

void add_tune_options(CLI::App& app, TuneOptions& o);

// Returns 0; throws ConfigError for bad input (nothing run), swapio::Error when I/O fails and
// Interrupted on a signal (both after writing the reports of the runs measured).
int run_tune(const TuneOptions& o);

// One write+read pair of a configuration.
struct Trial {
  unsigned stage = 0;  // 1.. screening stages; 0 for the confirming rounds
  std::uint64_t size = 0;
  std::size_t config = 0;  // index into the configurations
  double write_gib = 0;
  double read_gib = 0;
  double score = 0;  // the pair's combined figure: 2 bytes-worth over both times
};

// What a search found, for the reports (tune_report.cpp).
struct TuneOutcome {
  std::vector<Config> space;
  std::vector<Trial> trials;
  std::size_t best = 0;
  double best_write = 0, best_read = 0, best_combined = 0;  // medians of the confirming rounds
  double seconds = 0;
  std::size_t exhaustive_runs = 0;
  double exhaustive_seconds = 0;
  std::string stopped;  // the search failed or was interrupted: why (then no recommendation)
};

// "1 MiB qd32 overlap batch par2".
std::string tune_label(const Config& c);
// Prints the table and summary, and writes PREFIX.csv, .json, .svg and -aio.json; a search that
// stopped writes the runs it measured and why it stopped, and no -aio.json (no recommendation).
void write_tune_reports(const TuneOptions& o, const TuneSpace& sp, const TuneOutcome& out);

}  // namespace swapio::cli
