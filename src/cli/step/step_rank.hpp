// One rank's swap traffic, run inside its worker process: the page-locked buffers, the files,
// the node's ceilings, and the optimizer step under each schedule (step_schedules.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "step/step_compute.hpp"
#include "step/step_model.hpp"
#include "swapio/buffer.hpp"
#include "swapio/config.hpp"
#include "swapio/handle.hpp"

namespace swapio::cli {

// What a rank's worker is asked to do.
struct RankSpec {
  StepShape shape;
  unsigned rank = 0;
  std::vector<std::string> folders;
  Config ds_config;      // DeepSpeed's schedules: its "aio" block
  Config swapio_config;  // swapio's schedule: one read and one write handle per folder
  unsigned prefetch = 2, write_behind = 2;  // swapio's schedule, in sub-groups
  unsigned slots = 1;    // sub-groups of buffers to allocate (the most any schedule run needs)
  ComputeSpec compute;
  bool validate = false;
  std::uint64_t ceiling_bytes = 0;  // per rank and folder

  nlohmann::json to_json() const;
  static RankSpec from_json(const nlohmann::json& j);
};

// Page-locked sub-groups of buffers the schedules need: partitioned 1, pipelined 3 (DeepSpeed's
// buffer_count = 3 x (states + 2)), swapio 1 + prefetch + write-behind.
unsigned slots_needed(Schedule s, unsigned prefetch, unsigned write_behind) noexcept;

// One step's figures on one rank.
struct StepFigures {
  double seconds = 0;             // the whole step, backward's gradient writes included
  double gradient_seconds = 0;    // backward: writing the gradients
  double read_wait = 0;           // blocked on reads
  double compute = 0;
  double write_wait = 0;          // blocked on writes (after backward)
  std::uint64_t read_bytes = 0, write_bytes = 0;
  nlohmann::json to_json() const;
};

class RankEngine {
 public:
  explicit RankEngine(const RankSpec& spec);
  ~RankEngine();

  const StepModel& model() const noexcept { return model_; }

  // The node's ceilings, every rank at once: two scratch files per folder written fresh
  // (untimed); then, timed, the first overwritten, read, and read while the second is
  // overwritten (duplex: what a drive does with both at once). Large sequential ops, swapio's handles.
  enum class Measure { prepare, write, read, duplex };
  double measure(Measure m);  // seconds (duplex: for ceiling_bytes each way)
  void ceiling_remove();

  // Before a schedule's run: its files removed, then the parameters written as DeepSpeed's
  // initialization does (untimed). The states are created by the first step.
  void begin(Schedule s);
  // Step `number` (from 1) under schedule s. With validate, the last step (`last`) records a
  // checksum of every 4 KiB it writes.
  StepFigures step(Schedule s, unsigned number, bool last);
  // Every file against the checksums the last step recorded; returns {files, bytes}. Throws
  // ValidationError naming the file and the offset of the first block that differs.
  nlohmann::json validate();
  // Where schedule s keeps sub-group g's tensor t (t == tensors(): its gradient).
  std::string path(Schedule s, const SubGroup& g, unsigned t) const;

 private:
  friend class ScheduleRun;
  float* buffer(unsigned slot, unsigned k) noexcept;
  std::vector<struct Lane> lanes(Measure m);
  void record(const std::string& path, const float* data, std::uint64_t bytes);

  RankSpec spec_;
  StepModel model_;
  std::vector<std::string> ceiling_files_;  // folder by folder: the first scratch file, the second
  std::vector<HostBuffer> pool_;  // slots x buffers_per_group
  std::vector<std::unique_ptr<Handle>> ds_handles_;      // [0] read (and partitioned's only), [1] write
  std::vector<std::unique_ptr<Handle>> swapio_read_, swapio_write_;  // one per folder
  struct Recorded {
    std::uint64_t size = 0;
    std::vector<std::uint32_t> crcs;  // CRC-32 of every 4 KiB
  };
  std::map<std::string, Recorded> checksums_;  // by path
};

}  // namespace swapio::cli
