// The programs a floor measurement compares (swapio bench, plain fio, fio with contiguous
// buffers): how each is run for a workload and what its report says, and the files they leave.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "qualify/floors.hpp"
#include "qualify/profile.hpp"

namespace swapio::cli {

// One program of the comparison: how to run it for a workload.
struct FloorProgram {
  std::string label;
  enum class Kind { swapio, fio, ceiling } kind;
  Engine engine = Engine::automatic;  // swapio
  std::string ioengine;               // fio: libaio or io_uring
};

// What one run of a program measured.
struct FloorMeasurement {
  double gib_per_s = 0;
  double cpu_per_gib = 0;
  bool direct = true;       // swapio: whether it ran with O_DIRECT
  std::string direct_note;  // swapio: why not
  std::string gds;          // swapio on device memory: "yes", "yes (cuFile compat mode: ...)" or "no: why"
  std::optional<double> contiguous_2m;  // swapio: its phase's memory_layout
  std::vector<std::string> warnings;    // swapio: the layout's warnings
  // A step workload: the step's bytes at the I/O lower bound over its median step time, and that time.
  std::optional<double> lower_bound_gib_per_s, step_seconds;
};

// Each throws std::runtime_error naming the program and the workload when the program fails
// or its report cannot be read.
FloorMeasurement run_swapio(const FloorOptions& o, const Workload& w, Engine engine);
// direct: as swapio ran (like with like: both O_DIRECT, or both buffered).
FloorMeasurement run_fio(const FloorOptions& o, const Workload& w, const FloorProgram& p, bool direct);
// A step workload: one `swapio step --json --rounds 1` run on the folders.
FloorMeasurement run_step_workload(const FloorOptions& o, const Workload& w);
// Reads need the files: swapio's are written once per folder by swapio itself; fio lays its own out.
void prepare_reads(const FloorOptions& o, const Workload& w);

// Removes the files every program of the comparison wrote in the folders. Never throws.
void remove_files(const std::vector<std::string>& folders) noexcept;

}  // namespace swapio::cli
