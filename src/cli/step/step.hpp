// `swapio step`: the swap traffic of ZeRO-Infinity's optimizer step, replayed by one worker
// process per rank (this binary, `swapio __step_worker`) on the node's folders, under DeepSpeed's
// schedules and swapio's side by side, against the step's I/O lower bound measured in the same run.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "step/step_options.hpp"

namespace swapio::cli {

// One rank's step under one schedule, over every rank of the node.
struct StepRecord {
  Schedule schedule = Schedule::swapio;
  unsigned round = 0, number = 0;  // number from 1; warm-up steps first
  bool warmup = false;
  double seconds = 0, gradient_seconds = 0, read_wait = 0, compute = 0, write_wait = 0;  // the slowest rank's
  std::uint64_t read_bytes = 0, write_bytes = 0;                                        // every rank's
};

// What a run measured.
struct StepResults {
  // The ceilings are measured at the start of every round; each is the fastest of the rounds'.
  std::uint64_t ceiling_bytes = 0;            // every rank's, each direction
  double ceiling_write_seconds = 0, ceiling_read_seconds = 0;
  double ceiling_duplex_seconds = 0;          // ceiling_bytes read while as many are written
  std::vector<StepRecord> steps;
  std::vector<nlohmann::json> validations;    // one per schedule run, when validated
  double read_ceiling() const;                // bytes per second
  double write_ceiling() const;
  double duplex_ceiling() const;              // bytes per second each way, both at once
  // The step's bytes at the ceilings, the faster of: reads then writes (read_bytes / read
  // ceiling + write_bytes / write ceiling), or as many as can go at once at the duplex ceiling
  // and the rest alone.
  double lower_bound(const StepRecord& r) const;
};

// Runs the command; returns its exit status. Throws ConfigError (bad input, nothing created),
// WorkerFailure, Interrupted; every file and folder it created is removed on every way out.
int run_step(const StepOptions& o);
// The worker process's main.
int step_worker_main(const std::string& spec);

// The phases each worker runs, in order (the parent waits for each on every rank), from the
// terms of the run (schedules, rounds, steps, validation), which the parent sends each worker.
nlohmann::json plan_terms(const StepOptions& o);
std::vector<nlohmann::json> step_plan(const nlohmann::json& terms);
// Bytes of the ceiling's scratch file per rank and folder.
std::uint64_t ceiling_bytes_per_folder(const StepOptions& o, const StepModel& m);

// The report (step_report.cpp): a table for people, and the JSON document; both end with the
// DeepSpeed config ("offload_optimizer" and "aio") of the faster of DeepSpeed's schedules.
void print_step_report(const StepOptions& o, const StepModel& m, const StepResults& r);
nlohmann::json step_report_json(const StepOptions& o, const StepModel& m, const StepResults& r);

}  // namespace swapio::cli
