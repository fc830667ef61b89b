// `swapio step`'s report: the run's shape, the ceilings, each schedule's median step beside the
// I/O lower bound, the speedup of swapio's schedule, and the DeepSpeed config of the best
// schedule DeepSpeed can run. A table for people; a JSON document for programs.
#include <cstdio>
#include <map>

#include "common/facts.hpp"
#include "common/knob_options.hpp"
#include "common/report_text.hpp"
#include "step/step.hpp"
#include "step/step_rank.hpp"

namespace swapio::cli {
namespace {

constexpr double kGiB = double(1ull << 30);

// A schedule's timed steps, by their medians.
struct Summary {
  Schedule schedule = Schedule::swapio;
  std::vector<double> steps;  // seconds of every timed step, in order
  double seconds = 0, gradient = 0, read_wait = 0, compute = 0, write_wait = 0, lower_bound = 0;
  std::uint64_t read_bytes = 0, write_bytes = 0;  // of one step
  double gib_per_s() const { return seconds > 0 ? double(read_bytes + write_bytes) / kGiB / seconds : 0; }
  double efficiency() const { return seconds > 0 ? lower_bound / seconds : 0; }
};

std::vector<Summary> summarize(const StepOptions& o, const StepResults& r) {
  std::vector<Summary> out;
  for (Schedule s : o.schedules) {
    Summary m;
    m.schedule = s;
    std::vector<double> g, rw, c, ww, lb;
    for (const StepRecord& rec : r.steps) {
      if (rec.schedule != s || rec.warmup) continue;
      m.steps.push_back(rec.seconds);
      g.push_back(rec.gradient_seconds);
      rw.push_back(rec.read_wait);
      c.push_back(rec.compute);
      ww.push_back(rec.write_wait);
      lb.push_back(r.lower_bound(rec));
      m.read_bytes = rec.read_bytes;
      m.write_bytes = rec.write_bytes;
    }
    m.seconds = median(m.steps);
    m.gradient = median(g);
    m.read_wait = median(rw);
    m.compute = median(c);
    m.write_wait = median(ww);
    m.lower_bound = median(lb);
    out.push_back(m);
  }
  return out;
}

const Summary* find(const std::vector<Summary>& all, Schedule s) {
  for (const Summary& m : all) {
    if (m.schedule == s) return &m;
  }
  return nullptr;
}

// The faster of DeepSpeed's schedules that ran, or null.
const Summary* best_deepspeed(const std::vector<Summary>& all) {
  const Summary* a = find(all, Schedule::partitioned);
  const Summary* b = find(all, Schedule::pipelined);
  if (a == nullptr || b == nullptr) return a != nullptr ? a : b;
  return b->seconds <= a->seconds ? b : a;
}

std::string aio_words(const Config& c) {
  return "block " + std::to_string(c.block_size >> 10) + "K, queue depth " + std::to_string(c.queue_depth) + ", " +
         std::to_string(c.intra_op_parallelism) + (c.intra_op_parallelism == 1 ? " thread" : " threads") +
         (c.overlap_events ? ", overlapped" : ", sequential") + (c.single_submit ? ", single submit" : "");
}

void print_shape(const StepOptions& o, const StepModel& m) {
  const std::uint64_t rank_files = m.file_bytes();
  std::printf("swapio step: %s parameters, world size %u (%u %s here), %s (%u %s), sub-groups of %llu, gradients %s\n",
              o.params_text.c_str(), m.shape().world_size, o.ranks, o.ranks == 1 ? "rank" : "ranks",
              m.optimizer().name.c_str(), m.states(), m.states() == 1 ? "state" : "states",
              static_cast<unsigned long long>(m.shape().sub_group_size), m.shape().swap_grads ? "swapped" : "in memory");
  std::printf("  a rank: %llu parameters, %zu sub-groups swapped (%llu parameters in memory); its files %.2f GiB\n",
              static_cast<unsigned long long>(m.rank_numel()), m.groups().size(),
              static_cast<unsigned long long>(m.in_memory_numel()), double(rank_files) / kGiB);
  std::printf("  a step, every rank: reads %.2f GiB, writes %.2f GiB%s\n", double(m.read_bytes() * o.ranks) / kGiB,
              double(m.write_bytes() * o.ranks) / kGiB, m.shape().swap_grads ? " (the gradients during backward)" : "");
  std::string folders;
  for (const std::string& f : o.folders) folders += (folders.empty() ? "" : ", ") + f;
  std::printf("  folders: %s\n  DeepSpeed's aio: %s; swapio: queue depth %u per folder and direction, prefetch %u, "
              "write-behind %u\n  compute: %s\n",
              folders.c_str(), aio_words(o.ds_config).c_str(), o.swapio_config.queue_depth, o.prefetch,
              o.write_behind, o.compute.describe().c_str());
}

void print_table(const std::vector<Summary>& all) {
  std::printf("\n  %-12s %9s %9s %9s %9s %10s %7s %11s %10s\n", "schedule", "step s", "backward", "read wait",
              "compute", "write wait", "GiB/s", "lower bound", "efficiency");
  for (const Summary& m : all) {
    std::printf("  %-12s %9.3f %9.3f %9.3f %9.3f %10.3f %7.2f %11.3f %9.0f%%\n", std::string(to_string(m.schedule)).c_str(),
                m.seconds, m.gradient, m.read_wait, m.compute, m.write_wait, m.gib_per_s(), m.lower_bound,
                100 * m.efficiency());
  }
  for (const Summary& m : all) {
    std::string steps;
    for (double s : m.steps) steps += fmt(" %.3f", s);
    std::printf("  %s, every timed step (s):%s\n", std::string(to_string(m.schedule)).c_str(), steps.c_str());
  }
}

// The DeepSpeed config ("offload_optimizer" and "aio") of `best`, one of DeepSpeed's schedules.
nlohmann::json deepspeed_config(const StepOptions& o, const StepModel& m, const Summary* best) {
  if (best == nullptr) return nullptr;
  const bool pipelined = best->schedule == Schedule::pipelined;
  const unsigned per_op = m.buffers_per_group();
  const Config& c = o.ds_config;
  return {{"zero_optimization",
           {{"stage", 3},
            {"sub_group_size", m.shape().sub_group_size},
            {"offload_optimizer",
             {{"device", "nvme"}, {"nvme_path", o.folders.front()}, {"pin_memory", true},
              {"buffer_count", pipelined ? 3 * per_op : std::max(4u, per_op)},
              {"pipeline_read", pipelined}, {"pipeline_write", pipelined}}}}},
          {"aio",
           {{"block_size", c.block_size}, {"queue_depth", c.queue_depth}, {"intra_op_parallelism", c.intra_op_parallelism},
            {"single_submit", c.single_submit}, {"overlap_events", c.overlap_events}, {"use_gds", false}}}};
}

}  // namespace

void print_step_report(const StepOptions& o, const StepModel& m, const StepResults& r) {
  print_shape(o, m);
  std::printf("  ceilings (this run, every rank at once): read %.2f GiB/s, write %.2f GiB/s, both at once %.2f GiB/s "
              "each way\n", r.read_ceiling() / kGiB, r.write_ceiling() / kGiB, r.duplex_ceiling() / kGiB);
  const std::vector<Summary> all = summarize(o, r);
  print_table(all);
  const Summary* mine = find(all, Schedule::swapio);
  for (Schedule s : {Schedule::partitioned, Schedule::pipelined}) {
    const Summary* other = find(all, s);
    if (mine != nullptr && other != nullptr && mine->seconds > 0) {
      std::printf("  swapio's schedule: %.2fx as fast as %s\n", other->seconds / mine->seconds,
                  std::string(to_string(s)).c_str());
    }
  }
  for (const nlohmann::json& v : r.validations) {
    std::printf("  validated %s (round %u): %llu files, %.2f GiB, each holds what its last step wrote\n",
                v.at("schedule").get<std::string>().c_str(), v.at("round").get<unsigned>() + 1,
                static_cast<unsigned long long>(v.at("files").get<std::uint64_t>()), v.at("bytes").get<double>() / kGiB);
  }
  if (const Summary* best = best_deepspeed(all)) {
    std::printf("\nDeepSpeed config of the faster of its schedules here (%s):\n%s\n",
                std::string(to_string(best->schedule)).c_str(), deepspeed_config(o, m, best).dump(2).c_str());
  }
}

nlohmann::json step_report_json(const StepOptions& o, const StepModel& m, const StepResults& r) {
  nlohmann::json doc = run_facts(o.folders);
  doc["command"] = "step";
  doc["model"] = {{"params", m.shape().params}, {"world_size", m.shape().world_size}, {"ranks", o.ranks},
                  {"sub_group_size", m.shape().sub_group_size}, {"optimizer", m.optimizer().name},
                  {"states", m.optimizer().states}, {"swap_grads", m.shape().swap_grads},
                  {"rank_params", m.rank_numel()}, {"sub_groups_swapped", m.groups().size()},
                  {"params_in_memory", m.in_memory_numel()}, {"buffer_bytes", m.buffer_bytes()},
                  {"step_read_bytes", m.read_bytes() * o.ranks}, {"step_write_bytes", m.write_bytes() * o.ranks}};
  doc["options"] = {{"steps", o.steps}, {"warmup_steps", o.warmup_steps}, {"rounds", o.rounds},
                    {"compute", o.compute.describe()}, {"compute_threads", o.compute.threads},
                    {"prefetch", o.prefetch}, {"write_behind", o.write_behind}, {"validate", o.validate},
                    {"deepspeed_aio", knobs_to_json(o.ds_config)}, {"swapio_aio", knobs_to_json(o.swapio_config)}};
  doc["ceilings"] = {{"bytes", r.ceiling_bytes}, {"read_gib_per_s", r.read_ceiling() / kGiB},
                     {"write_gib_per_s", r.write_ceiling() / kGiB}, {"duplex_gib_per_s", r.duplex_ceiling() / kGiB}};
  doc["steps"] = nlohmann::json::array();
  for (const StepRecord& s : r.steps) {
    const double lb = r.lower_bound(s);
    doc["steps"].push_back({{"schedule", to_string(s.schedule)}, {"round", s.round}, {"number", s.number},
                            {"warmup", s.warmup}, {"seconds", s.seconds}, {"gradient_seconds", s.gradient_seconds},
                            {"read_wait", s.read_wait}, {"compute", s.compute}, {"write_wait", s.write_wait},
                            {"read_bytes", s.read_bytes}, {"write_bytes", s.write_bytes}, {"lower_bound", lb},
                            {"efficiency", s.seconds > 0 ? lb / s.seconds : 0}});
  }
  const std::vector<Summary> all = summarize(o, r);
  doc["schedules"] = nlohmann::json::object();
  for (const Summary& m2 : all) {
    doc["schedules"][std::string(to_string(m2.schedule))] = {
        {"median_seconds", m2.seconds}, {"gradient_seconds", m2.gradient}, {"read_wait", m2.read_wait},
        {"compute", m2.compute}, {"write_wait", m2.write_wait}, {"gib_per_s", m2.gib_per_s()},
        {"lower_bound", m2.lower_bound}, {"efficiency", m2.efficiency()}, {"steps", m2.steps}};
  }
  const Summary* mine = find(all, Schedule::swapio);
  doc["speedup"] = nlohmann::json::object();
  for (Schedule s : {Schedule::partitioned, Schedule::pipelined}) {
    const Summary* other = find(all, s);
    if (mine != nullptr && other != nullptr && mine->seconds > 0) {
      doc["speedup"]["vs_" + std::string(to_string(s))] = other->seconds / mine->seconds;
    }
  }
  doc["validation"] = r.validations;
  doc["deepspeed_config"] = deepspeed_config(o, m, best_deepspeed(all));
  return doc;
}

}  // namespace swapio::cli
