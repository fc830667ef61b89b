// Node profiles (fixtures/profiles/*.json): the workloads a node must run and the floor of each.
// Read by the performance suite's floor tests (and by node qualification).
//
//   {
//     "name": "any-node",
//     "description": "...",
//     "rounds": 5,                     // interleaved rounds; medians are compared (default 5)
//     "fleet": { "outlier_fraction": 0.15, "outlier_mads": 3.5 },  // fleet qualification's rule
//     "workloads": [
//       { "name": "write-1m-qd32", "op": "write", "size": "1G", "processes": 1, "handle": true,
//         "block_size": "1M", "queue_depth": 32, "io_parallel": 1, "engine": "auto",
//                                       // any knob of the knob table by its key (swapio/knobs.hpp)
//         "device": "cuda:0",           // the tensor in GPU memory (or "emulated"); default host
//         "loops": 3, "warmup_loops": 1,  // swapio's timed loops per round, after untimed ones (1, 0)
//         "floor_gib_per_s": 2.0,       // absolute, GiB/s = 2^30 bytes/s
//         "floor_vs_fio": 1.0,          // x the faster plain fio engine, same run, same folder
//         "floor_vs_ceiling": 0.9,      // x fio with contiguous buffers, where that tool is given
//         "floor_round_vs_ceiling": 0.85 }  // every round x the ceiling's run in the same round
//       { "name": "step-350m", "op": "step",   // swapio step's traffic (a round: one `swapio step` run)
//         "params": "350M", "sub_group_size": "20M", "ranks": 1, "world_size": 1, "optimizer": "adam",
//         "swap_grads": true, "schedule": "swapio", "compute": "none", "steps": 2, "warmup_steps": 1,
//         "floor_vs_lower_bound": 0.5,  // median step efficiency against the I/O lower bound
//         "floor_step_seconds": 20 }    // the median step's time at most
//     ]
//   }
// Every workload needs at least one floor. Unknown keys, bad sizes and out-of-range values are
// errors naming the file, the workload and the key.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "swapio/config.hpp"

namespace swapio::cli {

struct Workload {
  std::string name;
  bool write = false;
  std::uint64_t size = 0;            // bytes per process
  unsigned processes = 1;
  unsigned loops = 1;         // swapio bench's timed loops per round (its figure covers them all)
  unsigned warmup_loops = 0;  // untimed loops before them
  bool handle = true;
  Config config;                     // the knobs (defaults where the profile gives none)
  std::string device;                // tensor in device memory: cuda, cuda:N or emulated ("": host)
  std::optional<double> floor_gib_per_s;
  std::optional<double> floor_vs_fio;
  std::optional<double> floor_vs_ceiling;
  std::optional<double> floor_round_vs_ceiling;  // the slowest round against its paired ceiling round
  // "op": "step": `swapio step` with these arguments (the model, the schedule, the compute),
  // judged against the step's I/O lower bound measured in the same run, and its step time.
  bool step = false;
  std::vector<std::string> step_args;
  std::optional<double> floor_vs_lower_bound;  // median efficiency: lower bound / step time
  std::optional<double> floor_step_seconds;    // the median step takes at most this long
};

struct Profile {
  std::string name;
  std::string description;
  unsigned rounds = 5;
  // Fleet qualification: a node is an outlier in a workload when it is below the fleet's median
  // by more than this fraction of it and this many scaled MADs ("fleet": {"outlier_fraction":
  // 0.15, "outlier_mads": 3.5}).
  double outlier_fraction = 0.15;
  double outlier_mads = 3.5;
  std::vector<Workload> workloads;
};

// Throws ConfigError: "profile F: workloads[2] (read-8m): block_size: size '8Q' is invalid ...".
Profile parse_profile(const nlohmann::json& j, const std::string& origin);
// The same from the text of a file; text that is not JSON is a ConfigError too.
Profile parse_profile_text(std::string_view text, const std::string& origin);
Profile load_profile(const std::string& path);

// `--gpus LIST` ("all", or ordinals "0,2"): the ordinals, with `visible` devices visible. Throws
// ConfigError for a bad list, an ordinal not visible, or no device visible (`why`).
std::vector<int> parse_gpu_list(const std::string& list, int visible, const std::string& why);
// Every GPU workload (device cuda or cuda:N) once per ordinal, named NAME@cuda:K, in place of
// the one; host and emulated workloads as they are. Throws ConfigError when there is none.
Profile expand_gpu_workloads(Profile profile, const std::vector<int>& ordinals);

}  // namespace swapio::cli
