// `swapio step`'s command line: the model and the job, the schedules, the compute, the aio knobs
// (DeepSpeed's "aio" block defaults), and the checks made before any file is created.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "common/knob_options.hpp"
#include "step/step_compute.hpp"
#include "step/step_model.hpp"
#include "swapio/config.hpp"

namespace swapio::cli {

struct StepOptions {
  // As given.
  std::string params_text, sub_group_text = "1e9", world_size_text, pinned_text, swap_grads_text = "on";
  std::string schedule_text = "all", compute_text = "adam";
  unsigned ranks = 1, steps = 3, warmup_steps = 1, rounds = 1, compute_threads = 0;
  unsigned prefetch = 2, write_behind = 2, swapio_queue_depth = 32;
  unsigned stall_timeout = 600;
  std::vector<std::string> folders;
  bool validate = false, json = false, keep_files = false;
  KnobArgs knobs;

  // Made by finish_step_options.
  StepShape shape;
  std::vector<Schedule> schedules;
  ComputeSpec compute;
  Config ds_config;      // DeepSpeed's "aio" block: block 1M, queue depth 8, 1 thread, overlapped
  Config swapio_config;  // the same, with swapio's queue depth
  std::uint64_t pinned_budget = 0;  // page-locked bytes per rank
  std::string budget_source;        // what set it: "--pinned-memory", "free memory", "RLIMIT_MEMLOCK"

  unsigned slots() const;  // the most page-locked sub-groups any schedule of the run needs
};

void add_step_options(CLI::App& app, StepOptions& o);
// Parses what add_step_options left as text and checks everything that needs no file: throws
// ConfigError with one line naming the argument.
void finish_step_options(StepOptions& o);
// The checks of the folders (O_DIRECT, files that exist, free space) and of the page-locked
// memory, before any file is created. Throws ConfigError.
void check_step_targets(const StepOptions& o, const StepModel& model, std::uint64_t ceiling_bytes);

// "7B", "1.5e9", "350M", "1000" (K, M, B or G, T: powers of 1000, as parameter counts go).
// Throws ConfigError naming the option.
std::uint64_t parse_count(const std::string& text, const std::string& option);

}  // namespace swapio::cli
