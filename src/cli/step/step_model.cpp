// The rank's sub-groups and files, as DeepSpeed's stage 3 and its optimizer swappers make them.
#include "step/step_model.hpp"

#include <algorithm>

#include "swapio/error.hpp"

namespace swapio::cli {
namespace {

const std::vector<OptimizerKind>& optimizers() {
  static const std::vector<OptimizerKind> all = {
      {"adam", {"exp_avg", "exp_avg_sq"}},
      {"adamw", {"exp_avg", "exp_avg_sq"}},
      {"adagrad", {"exp_avg_sq"}},
      {"lion", {"exp_avg"}},
      {"sgd", {"momentum_buffer"}},
  };
  return all;
}

std::string optimizer_names() {
  std::string out;
  for (const OptimizerKind& k : optimizers()) out += (out.empty() ? "" : ", ") + k.name;
  return out;
}

constexpr std::uint64_t kAlignedBytes = 1024;   // DeepSpeed's AIO_ALIGNED_BYTES
constexpr std::uint64_t kMinAioBytes = 1 << 20;  // its MIN_AIO_BYTES

}  // namespace

const OptimizerKind& optimizer_kind(std::string_view name) {
  for (const OptimizerKind& k : optimizers()) {
    if (k.name == name) return k;
  }
  throw ConfigError("--optimizer " + std::string(name) + ": unknown optimizer (use " + optimizer_names() + ")");
}

std::string_view to_string(Schedule s) noexcept {
  switch (s) {
    case Schedule::partitioned: return "partitioned";
    case Schedule::pipelined: return "pipelined";
    case Schedule::swapio: return "swapio";
  }
  return "?";
}

std::vector<Schedule> parse_schedules(std::string_view s) {
  if (s == "all") return {Schedule::partitioned, Schedule::pipelined, Schedule::swapio};
  for (Schedule k : {Schedule::partitioned, Schedule::pipelined, Schedule::swapio}) {
    if (s == to_string(k)) return {k};
  }
  throw ConfigError("--schedule " + std::string(s) + ": unknown schedule (use partitioned, pipelined, swapio or all)");
}

StepModel::StepModel(const StepShape& shape) : shape_(shape), optimizer_(&optimizer_kind(shape.optimizer)) {
  if (shape.params == 0) throw ConfigError("--params 0: the model needs at least one parameter");
  if (shape.world_size == 0) throw ConfigError("--world-size 0: there must be at least one rank");
  if (shape.sub_group_size == 0) throw ConfigError("--sub-group-size 0: a sub-group needs at least one element");
  // DeepSpeed pads the flat partition so every rank holds the same count.
  rank_numel_ = (shape.params + shape.world_size - 1) / shape.world_size;
  const std::uint64_t align_numel = kAlignedBytes * shape.intra_op_parallelism / kElementBytes;
  const std::uint64_t min_bytes = std::max(kMinAioBytes, shape.block_size);
  unsigned index = 0;
  for (std::uint64_t at = 0; at < rank_numel_; at += shape.sub_group_size, ++index) {
    const std::uint64_t numel = std::min(shape.sub_group_size, rank_numel_ - at);
    if (numel * kElementBytes < min_bytes) {  // DeepSpeed keeps it in memory: no traffic
      in_memory_numel_ += numel;
      continue;
    }
    SubGroup g;
    g.index = index;
    g.numel = numel;
    g.aligned_numel = (numel + align_numel - 1) / align_numel * align_numel;
    g.id = std::to_string(index) + "_" + std::to_string(index);
    largest_aligned_ = std::max(largest_aligned_, g.aligned_numel);
    groups_.push_back(std::move(g));
  }
}

std::string StepModel::tensor_file(const SubGroup& g, unsigned t) const {
  if (t == 0) return g.id + ".tensor.swp";
  return optimizer_->states.at(t - 1) + "-" + g.id + ".tensor.swp";
}

std::string StepModel::gradient_file(const SubGroup& g) const {
  return g.id + "_gradient_0_" + std::to_string(g.numel) + ".tensor.swp";
}

std::string StepModel::rank_folder(const std::string& folder, unsigned rank) {
  return folder + "/zero_stage_3/optimizer/rank" + std::to_string(rank);
}

std::uint64_t StepModel::read_bytes() const noexcept {
  std::uint64_t n = 0;
  for (const SubGroup& g : groups_) n += g.aligned_numel * kElementBytes * (tensors() + (shape_.swap_grads ? 1 : 0));
  return n;
}

std::uint64_t StepModel::write_bytes() const noexcept { return read_bytes(); }

std::uint64_t StepModel::file_bytes() const noexcept { return read_bytes(); }

}  // namespace swapio::cli
