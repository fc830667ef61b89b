// Runs a profile's workloads the way users run them — `swapio bench` with its worker processes —
// beside the references measured on the same folders in the same run: plain fio with each of
// its engines (what users compare with) and, where a tool for it is given, fio with physically
// contiguous buffers (the device's ceiling). Programs alternate round by round (swapio, fio
// libaio, fio io_uring, ..., swapio, ...) because the device drifts; medians are compared.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "qualify/profile.hpp"

namespace swapio::cli {

struct WorkloadResult;

struct FloorOptions {
  std::string swapio;                       // the swapio command
  std::vector<std::string> fio = {"fio"};   // plain fio
  bool plain_fio = true;                    // measure plain fio (floors vs fio need it)
  std::vector<std::string> ceiling;         // fio with contiguous buffers (empty: not measured)
  std::vector<std::string> folders;         // processes spread over them, i mod n
  std::vector<Engine> extra_engines;        // swapio with these engines too (reported, not floored)
  std::optional<unsigned> rounds;           // overrides the profile's
  std::function<void(const std::string&)> progress;  // one line per run
  // Called before workload i starts and after it ended (fleet qualification's sync points); an
  // exception from either ends the run (the files are removed).
  std::function<void(std::size_t)> before_workload;
  std::function<void(std::size_t, const WorkloadResult&)> after_workload;
};

struct Series {
  std::vector<double> gib_per_s;
  std::vector<double> cpu_per_gib;
  // swapio: the least contiguous process's I/O memory, per round (fraction in >= 2 MiB physical
  // pieces; unset where not measured: staged, or unreadable)
  std::vector<std::optional<double>> contiguous_2m;
  double median_gib_per_s = 0;
  double median_cpu_per_gib = 0;
  // A step workload: each round's lower-bound GiB/s and median step time.
  std::vector<double> lower_bound_gib_per_s, step_seconds;
};

struct FloorCheck {
  std::string kind;      // "absolute", "vs fio", "vs ceiling", "round vs ceiling"
  double factor = 0;     // the profile's number (GiB/s for absolute)
  double floor = 0;      // GiB/s
  double measured = 0;   // swapio's median GiB/s (round vs ceiling: its round of lowest ratio)
  unsigned round = 0;    // round vs ceiling: that round (1-based)
  std::string reference; // round vs ceiling: the ceiling program paired with swapio
  bool pass = false;
  bool skipped = false;  // its reference was not measured
  std::string error;     // the workload failed or was interrupted before it could be checked
};

struct WorkloadResult {
  Workload workload;
  std::vector<std::pair<std::string, Series>> programs;  // in run order; "swapio" first
  std::optional<double> fio_best;                        // the faster plain fio engine's median
  std::optional<double> ceiling_best;
  std::vector<FloorCheck> checks;
  // Whether swapio ran with O_DIRECT (its first run says; unset if it never ran): fio and the
  // ceiling ran the same way, so that like is compared with like. direct_note: why not.
  std::optional<bool> direct;
  std::string direct_note;
  std::string gds;  // a GPU workload: whether swapio's first run went by GPUDirect Storage, and why not
  std::optional<double> contiguous_2m;  // swapio's I/O memory: the least over its rounds
  std::vector<std::string> memory_warnings;  // swapio's, each once
  std::string error;  // a program failed ("fio libaio, workload w: exited with status 1: ..."), or
                      // "interrupted by ..." / "not run: interrupted by ...": the rounds measured are kept
  bool pass = false;

  const Series& series(const std::string& program) const;
};

// The `swapio bench` command line that measures a workload as users run it: its knobs, the
// engine given, its loops when `write` is the workload's own op (not the write that lays out a
// read's file), processes spread over `folders`.
std::vector<std::string> swapio_bench_args(const FloorOptions& o, const Workload& w, Engine engine, bool write,
                                           const std::vector<std::string>& folders, unsigned processes);

// Throws ConfigError for bad options. A program that fails or reports no figures fails its
// workload (WorkloadResult::error, its stderr in it; the next workload runs); an interrupt
// (catch_interrupts) fails the workload it cut short and leaves the rest not run. Either way
// the rounds measured are returned, and the files are removed.
std::vector<WorkloadResult> run_floors(const Profile& profile, const FloorOptions& options);

// People's report: per workload every round of every program, medians, ratios, each floor.
std::string format_results(const Profile& profile, const std::vector<WorkloadResult>& results);
nlohmann::json results_to_json(const Profile& profile, const std::vector<WorkloadResult>& results);
// One workload's entry of that report.
nlohmann::json workload_to_json(const WorkloadResult& r);

}  // namespace swapio::cli
