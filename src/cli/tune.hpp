// `swapio tune`: find a folder's best settings without an exhaustive sweep. Every configuration
// of the space is screened with short write+read runs; the better quarter goes on to runs four
// times as long, and so on; the last few are confirmed with full-size interleaved rounds. The
// recommendation is the best by the confirmed figure (a write+read pair's combined GiB/s).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace swapio::cli {

struct TuneSpace {
  std::vector<std::uint64_t> block_sizes{1ull << 20, 8ull << 20};
  std::vector<unsigned> queue_depths{32, 128};
  std::vector<bool> overlap_events{true, false};
  std::vector<bool> single_submit{false, true};
  std::vector<unsigned> io_parallel{1, 2, 4, 8};
  std::uint64_t size = 1ull << 30;        // bytes of the confirming runs
  std::uint64_t screen_size = 64ull << 20;  // bytes of the first screening runs
  unsigned rounds = 3;                    // confirming rounds per leader
  unsigned leaders = 3;                   // configurations confirmed at full size
};

// Throws ConfigError naming the file and the key (unknown keys, bad sizes, empty lists).
TuneSpace parse_tune_space(const nlohmann::json& j, const std::string& origin);

struct TuneOptions {
  std::string folder;
  std::string space;                 // JSON file overriding the default space
  std::string prefix = "swapio-tune";  // writes PREFIX.csv, .json, .svg and -aio.json
};

void add_tune_options(CLI::App& app, TuneOptions& o);

// Returns 0; throws ConfigError for bad input and swapio::Error when I/O fails.
int run_tune(const TuneOptions& o);

}  // namespace swapio::cli
