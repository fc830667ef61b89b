// One rank's share of ZeRO-Infinity's optimizer step, laid out as DeepSpeed (v0.19.6) lays it out:
// the rank's fp32 partition (parameters / world size) cut into sub-groups of sub_group_size
// elements; per swapped sub-group one file per tensor under <nvme_path>/zero_stage_3/optimizer/
// rank<R>/ — the parameters "<id>.tensor.swp", each optimizer state "<state>-<id>.tensor.swp" and
// the gradient "<id>_gradient_<offset>_<length>.tensor.swp" — each the sub-group's size rounded up
// to 1024 x intra_op_parallelism bytes. A sub-group under max(1 MiB, block size) stays in memory.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace swapio::cli {

// The optimizers whose states DeepSpeed swaps, by the names of its state tensors.
struct OptimizerKind {
  std::string name;                 // "adam"
  std::vector<std::string> states;  // {"exp_avg", "exp_avg_sq"}
};
// adam, adamw, adagrad, lion, sgd (with momentum). Throws ConfigError naming the others.
const OptimizerKind& optimizer_kind(std::string_view name);

// How the sub-groups' tensors move.
//   partitioned: DeepSpeed's PartitionedOptimizerSwapper (read, wait, grads, wait, step, write, wait)
//   pipelined:   its PipelinedOptimizerSwapper (one sub-group of prefetch, one of write-behind)
//   swapio:      deeper prefetch and write-behind, every tensor of a sub-group in flight at
//                once over every folder, reads and writes of different sub-groups together
enum class Schedule { partitioned, pipelined, swapio };
std::string_view to_string(Schedule s) noexcept;
// One name, or "all" (every schedule). Throws ConfigError.
std::vector<Schedule> parse_schedules(std::string_view s);

struct SubGroup {
  unsigned index = 0;
  std::uint64_t numel = 0;          // elements
  std::uint64_t aligned_numel = 0;  // rounded up as DeepSpeed's _io_aligned_numel does
  std::string id;                   // DeepSpeed's "<first ds_id>_<last ds_id>"
};

// The model and the job, as the command line gives them.
struct StepShape {
  std::uint64_t params = 0;            // the model's parameters
  unsigned world_size = 1;             // data-parallel ranks over every node
  std::uint64_t sub_group_size = 1000000000;
  std::string optimizer = "adam";
  bool swap_grads = true;
  std::uint64_t block_size = 1ull << 20;
  unsigned intra_op_parallelism = 1;
};

class StepModel {
 public:
  explicit StepModel(const StepShape& shape);

  static constexpr std::uint64_t kElementBytes = 4;  // fp32
  const StepShape& shape() const noexcept { return shape_; }
  const OptimizerKind& optimizer() const noexcept { return *optimizer_; }
  unsigned states() const noexcept { return static_cast<unsigned>(optimizer_->states.size()); }
  // Tensors read and written per sub-group: the parameters and the states.
  unsigned tensors() const noexcept { return 1 + states(); }
  // Page-locked buffers one swap op of a sub-group holds: its tensors and its gradient.
  unsigned buffers_per_group() const noexcept { return tensors() + 1; }
  std::uint64_t rank_numel() const noexcept { return rank_numel_; }
  const std::vector<SubGroup>& groups() const noexcept { return groups_; }
  std::uint64_t in_memory_numel() const noexcept { return in_memory_numel_; }
  std::uint64_t buffer_bytes() const noexcept { return largest_aligned_ * kElementBytes; }

  // File names (no folder) of sub-group g's tensor t (0: parameters, 1..: states), its gradient.
  std::string tensor_file(const SubGroup& g, unsigned t) const;
  std::string gradient_file(const SubGroup& g) const;
  // "<folder>/zero_stage_3/optimizer/rank<R>".
  static std::string rank_folder(const std::string& folder, unsigned rank);

  // Per rank and steady step: bytes read (tensors, and gradients when swapped) and written
  // (tensors, and gradients during backward when swapped).
  std::uint64_t read_bytes() const noexcept;
  std::uint64_t write_bytes() const noexcept;
  // Every file of the rank, at their sizes (each is read once a steady step).
  std::uint64_t file_bytes() const noexcept;

 private:
  StepShape shape_;
  const OptimizerKind* optimizer_ = nullptr;
  std::uint64_t rank_numel_ = 0;
  std::uint64_t in_memory_numel_ = 0;
  std::uint64_t largest_aligned_ = 0;
  std::vector<SubGroup> groups_;
};

}  // namespace swapio::cli
