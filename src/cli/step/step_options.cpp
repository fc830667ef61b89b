// `swapio step`'s options: registration and parsing.
#include "step/step_options.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

#include "step/step_rank.hpp"
#include "swapio/error.hpp"

namespace swapio::cli {

std::uint64_t parse_count(const std::string& text, const std::string& option) {
  const std::string bad = option + " " + text + ": ";
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    throw ConfigError(bad + "not a count (use 7B, 350M, 1.5e9 or 1000)");
  }
  const std::string suffix = text.substr(used);
  double scale = 1;
  if (suffix == "K" || suffix == "k") scale = 1e3;
  else if (suffix == "M" || suffix == "m") scale = 1e6;
  else if (suffix == "B" || suffix == "b" || suffix == "G" || suffix == "g") scale = 1e9;
  else if (suffix == "T" || suffix == "t") scale = 1e12;
  else if (!suffix.empty()) throw ConfigError(bad + "unknown suffix '" + suffix + "' (use K, M, B or T)");
  const double n = std::round(v * scale);
  if (!std::isfinite(n) || n < 1 || n > 1e15 || text.find_first_of("+-") == 0) {
    throw ConfigError(bad + "must be a positive count of at most 1e15");
  }
  return static_cast<std::uint64_t>(n);
}

void add_step_options(CLI::App& app, StepOptions& o) {
  app.add_option("--params", o.params_text, "the model's parameters: 7B, 350M, 1.5e9")->required();
  app.add_option("--ranks", o.ranks, "ranks on this node: worker processes, started together")->capture_default_str();
  app.add_option("--world-size", o.world_size_text, "data-parallel ranks over every node; each holds params / world size "
                 "(default: --ranks)");
  app.add_option("--sub-group-size", o.sub_group_text, "elements per sub-group (DeepSpeed's sub_group_size)")->capture_default_str();
  app.add_option("--optimizer", o.shape.optimizer, "adam, adamw (2 states), adagrad, lion, sgd (1 state)")->capture_default_str();
  app.add_option("--swap-grads", o.swap_grads_text, "on: backward writes each sub-group's gradient and the step reads it; "
                 "off: gradients stay in memory")->check(CLI::IsMember({"on", "off"}))->capture_default_str();
  app.add_option("--schedule", o.schedule_text, "partitioned, pipelined (DeepSpeed's swappers), swapio, or all side by side")
      ->capture_default_str();
  app.add_option("--steps", o.steps, "timed steps per schedule and round")->capture_default_str();
  app.add_option("--warmup-steps", o.warmup_steps, "untimed steps before them; the first step creates the state files")
      ->capture_default_str();
  app.add_option("--rounds", o.rounds, "rounds of every schedule, interleaved (the order reverses every other round)")
      ->capture_default_str();
  app.add_option("--compute", o.compute_text, "adam: a real fp32 update of the optimizer's states; none: I/O alone; "
                 "a number: a modelled compute speed in GiB/s of the sub-group's tensors")->capture_default_str();
  app.add_option("--compute-threads", o.compute_threads, "threads of the real update per rank (default: cores / ranks)");
  app.add_option("--folder", o.folders, "a folder on a drive to swap to (repeatable; DeepSpeed's nvme_path); default: here");
  app.add_option("--pinned-memory", o.pinned_text, "page-locked memory per rank for the swap buffers (default: 80% of the "
                 "available memory shared by the ranks, and within RLIMIT_MEMLOCK)");
  app.add_option("--prefetch", o.prefetch, "swapio's schedule: sub-groups read ahead")->capture_default_str();
  app.add_option("--write-behind", o.write_behind, "swapio's schedule: sub-groups being written while it goes on")
      ->capture_default_str();
  app.add_option("--swapio-queue-depth", o.swapio_queue_depth, "swapio's schedule: requests in flight per folder and "
                 "direction")->capture_default_str();
  app.add_flag("--validate", o.validate, "after each schedule's last step, re-read every file and check it holds what "
               "that step wrote (CRC-32 of every 4 KiB, taken as it was written)");
  app.add_flag("--keep-files", o.keep_files, "after a whole run, keep the last schedule's files (DeepSpeed's names and "
               "sizes) instead of removing them; a failed run removes them all the same");
  app.add_flag("--json", o.json, "one JSON document on stdout: the configuration, the ceilings, every step's figures");
  app.add_option("--stall-timeout", o.stall_timeout, "stop the run when no rank made progress for this many seconds "
                 "(0: never)")->capture_default_str();
  add_knob_options(app, o.knobs);
}

unsigned StepOptions::slots() const {
  unsigned n = 0;
  for (Schedule s : schedules) n = std::max(n, slots_needed(s, prefetch, write_behind));
  return n;
}

namespace {

// The aio knobs: DeepSpeed's "aio" defaults where the line gives none (its queue depth is 8).
void finish_aio(StepOptions& o) {
  if (!knob_given(o.knobs, "queue_depth")) o.ds_config.queue_depth = 8;
  apply_knob_options(o.knobs, o.ds_config);
  if (o.ds_config.atomic_replace) {
    throw ConfigError("--atomic-replace: the step overwrites its files in place, as DeepSpeed's swappers do");
  }
  o.swapio_config = o.ds_config;
  if (o.swapio_queue_depth == 0 || o.swapio_queue_depth > kMaxQueueDepth) {
    throw ConfigError("--swapio-queue-depth " + std::to_string(o.swapio_queue_depth) + ": must be 1 to " +
                      std::to_string(kMaxQueueDepth));
  }
  o.swapio_config.queue_depth = o.swapio_queue_depth;
  o.shape.block_size = o.ds_config.block_size;
  o.shape.intra_op_parallelism = o.ds_config.intra_op_parallelism;
}

void check_counts(const StepOptions& o) {
  if (o.ranks == 0) throw ConfigError("--ranks 0: there must be at least one rank on this node");
  if (o.ranks > 1024) throw ConfigError("--ranks " + std::to_string(o.ranks) + ": at most 1024 ranks on a node");
  if (o.steps == 0) throw ConfigError("--steps 0: at least one timed step is needed");
  if (o.rounds == 0) throw ConfigError("--rounds 0: at least one round is needed");
  if (o.prefetch == 0 || o.prefetch > 64) throw ConfigError("--prefetch " + std::to_string(o.prefetch) + ": must be 1 to 64");
  if (o.write_behind == 0 || o.write_behind > 64) {
    throw ConfigError("--write-behind " + std::to_string(o.write_behind) + ": must be 1 to 64");
  }
}

}  // namespace

void finish_step_options(StepOptions& o) {
  check_counts(o);
  o.shape.params = parse_count(o.params_text, "--params");
  o.shape.sub_group_size = parse_count(o.sub_group_text, "--sub-group-size");
  o.shape.world_size = o.world_size_text.empty() ? o.ranks : static_cast<unsigned>(std::min<std::uint64_t>(
                                                                  parse_count(o.world_size_text, "--world-size"), 1u << 30));
  if (o.shape.world_size < o.ranks) {
    throw ConfigError("--world-size " + o.world_size_text + ": smaller than --ranks " + std::to_string(o.ranks));
  }
  (void)optimizer_kind(o.shape.optimizer);
  o.shape.swap_grads = o.swap_grads_text == "on";
  o.schedules = parse_schedules(o.schedule_text);
  o.compute = ComputeSpec::parse(o.compute_text);
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  o.compute.threads = o.compute_threads > 0 ? o.compute_threads : std::max(1u, cores / o.ranks);
  finish_aio(o);
  if (o.folders.empty()) o.folders.push_back(".");
  if (!o.pinned_text.empty()) {
    o.pinned_budget = parse_size(o.pinned_text);
    if (o.pinned_budget == 0) throw ConfigError("--pinned-memory 0: the swap buffers need page-locked memory");
    o.budget_source = "--pinned-memory";
  }
}

}  // namespace swapio::cli
