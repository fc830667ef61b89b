// `swapio step`: checks, the rank folders, the workers behind barriers, the figures gathered.
#include "step/step.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "bench/bench_phase.hpp"
#include "bench/bench_phase_workers.hpp"
#include "common/subprocess.hpp"
#include "step/step_files.hpp"
#include "step/step_rank.hpp"
#include "swapio/error.hpp"

namespace swapio::cli {
namespace {

// The rank folders (<folder>/zero_stage_3/optimizer/rank<R>) the run makes; on every way out,
// every file the run may have created is removed, then the folders it made, deepest first.
class StepTree {
 public:
  StepTree(const StepOptions& o, const StepModel& m) : o_(o), m_(m) {}
  StepTree(const StepTree&) = delete;
  StepTree& operator=(const StepTree&) = delete;
  ~StepTree() {
    for (unsigned r = 0; r < o_.ranks && !kept_; ++r) {
      try {
        (void)unlink_files(rank_files(m_, o_.folders, r));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "swapio step: %s\n", e.what());
      }
    }
    for (auto it = made_.rbegin(); it != made_.rend(); ++it) (void)::rmdir(it->c_str());  // the empty ones
  }
  // After a whole run with --keep-files: the last schedule's files stay, as DeepSpeed leaves them.
  void keep() { kept_ = true; }

  void create() {
    for (const std::string& folder : o_.folders) {
      for (unsigned r = 0; r < o_.ranks; ++r) {
        std::string path = folder;
        for (const std::string& part : {std::string("zero_stage_3"), std::string("optimizer"), "rank" + std::to_string(r)}) {
          path += "/" + part;
          if (::mkdir(path.c_str(), 0755) == 0) {
            made_.push_back(path);
          } else if (errno != EEXIST) {
            throw_io_error(errno, "mkdir", path);
          }
        }
      }
    }
  }

 private:
  const StepOptions& o_;
  const StepModel& m_;
  std::vector<std::string> made_;
  bool kept_ = false;
};

// One line on a terminal, rewritten as the run goes.
class Progress {
 public:
  explicit Progress(std::size_t phases) : on_(::isatty(STDERR_FILENO) == 1), phases_(phases) {}
  ~Progress() { clear(); }
  void show(std::size_t done, const nlohmann::json& phase) {
    if (!on_) return;
    std::string what = phase.at("event");
    if (phase.contains("schedule")) what += " " + phase.at("schedule").get<std::string>();
    if (phase.contains("number")) what += " " + std::to_string(phase.at("number").get<unsigned>());
    std::fprintf(stderr, "\r\033[Kswapio step: %zu/%zu %s", done, phases_, what.c_str());
    std::fflush(stderr);
  }
  void clear() {
    if (on_) std::fprintf(stderr, "\r\033[K");
    on_ = false;
  }

 private:
  bool on_;
  std::size_t phases_;
};

StepRecord record_of(const nlohmann::json& phase, const std::vector<WorkerProc>& procs) {
  StepRecord r;
  r.schedule = parse_schedules(phase.at("schedule").get<std::string>()).front();
  r.round = phase.at("round");
  r.number = phase.at("number");
  r.warmup = phase.at("warmup");
  for (const WorkerProc& p : procs) {
    const nlohmann::json& f = p.last.at("figures");
    r.seconds = std::max(r.seconds, f.at("seconds").get<double>());
    r.gradient_seconds = std::max(r.gradient_seconds, f.at("gradient_seconds").get<double>());
    r.read_wait = std::max(r.read_wait, f.at("read_wait").get<double>());
    r.compute = std::max(r.compute, f.at("compute").get<double>());
    r.write_wait = std::max(r.write_wait, f.at("write_wait").get<double>());
    r.read_bytes += f.at("read_bytes").get<std::uint64_t>();
    r.write_bytes += f.at("write_bytes").get<std::uint64_t>();
  }
  return r;
}

double slowest(const std::vector<WorkerProc>& procs) {
  double s = 0;
  for (const WorkerProc& p : procs) s = std::max(s, p.last.at("seconds").get<double>());
  return s;
}

// The better of two measurements of the same bytes (0: none yet).
double fastest(double best, double seconds) { return best == 0 ? seconds : std::min(best, seconds); }

// Runs the plan on every rank; returns the figures.
StepResults run_workers(const StepOptions& o, const StepModel& m) {
  const std::vector<nlohmann::json> plan = step_plan(plan_terms(o));
  WorkerLaunch launch;
  launch.verb = "__step_worker";
  launch.stall_timeout = o.stall_timeout;
  for (unsigned r = 0; r < o.ranks; ++r) {
    RankSpec spec{m.shape(), r, o.folders, o.ds_config, o.swapio_config, o.prefetch, o.write_behind, o.slots(),
                  o.compute, o.validate, ceiling_bytes_per_folder(o, m)};
    launch.specs.push_back(nlohmann::json{{"rank", spec.to_json()}, {"plan", plan_terms(o)}}.dump());
    launch.labels.push_back("rank " + std::to_string(r));
  }
  StepResults res;
  res.ceiling_bytes = ceiling_bytes_per_folder(o, m) * o.folders.size() * o.ranks;
  PhaseWorkers workers(std::move(launch));
  workers.spawn_all();
  workers.collect("started");
  workers.release();
  workers.collect("ready");
  workers.release();
  Progress progress(plan.size());
  for (std::size_t i = 0; i < plan.size(); ++i) {
    progress.show(i, plan[i]);
    const std::string name = plan[i].at("event");
    workers.collect(name);
    if (name == "ceiling-write") res.ceiling_write_seconds = fastest(res.ceiling_write_seconds, slowest(workers.procs()));
    if (name == "ceiling-read") res.ceiling_read_seconds = fastest(res.ceiling_read_seconds, slowest(workers.procs()));
    if (name == "ceiling-duplex") res.ceiling_duplex_seconds = fastest(res.ceiling_duplex_seconds, slowest(workers.procs()));
    if (name == "step") res.steps.push_back(record_of(plan[i], workers.procs()));
    if (name == "validate") {
      nlohmann::json v = {{"schedule", plan[i].at("schedule")}, {"round", plan[i].at("round")}, {"files", 0}, {"bytes", 0}};
      for (const WorkerProc& p : workers.procs()) {
        v["files"] = v["files"].get<std::uint64_t>() + p.last.at("validation").at("files").get<std::uint64_t>();
        v["bytes"] = v["bytes"].get<std::uint64_t>() + p.last.at("validation").at("bytes").get<std::uint64_t>();
      }
      res.validations.push_back(v);
    }
    if (i + 1 < plan.size()) workers.release();
  }
  progress.clear();
  workers.reap_all();
  return res;
}

}  // namespace

double StepResults::read_ceiling() const {
  return ceiling_read_seconds > 0 ? static_cast<double>(ceiling_bytes) / ceiling_read_seconds : 0;
}

double StepResults::write_ceiling() const {
  return ceiling_write_seconds > 0 ? static_cast<double>(ceiling_bytes) / ceiling_write_seconds : 0;
}

double StepResults::duplex_ceiling() const {
  return ceiling_duplex_seconds > 0 ? static_cast<double>(ceiling_bytes) / ceiling_duplex_seconds : 0;
}

double StepResults::lower_bound(const StepRecord& r) const {
  if (read_ceiling() <= 0 || write_ceiling() <= 0) return 0;
  const auto rd = static_cast<double>(r.read_bytes), wr = static_cast<double>(r.write_bytes);
  const double apart = rd / read_ceiling() + wr / write_ceiling();
  if (duplex_ceiling() <= 0) return apart;
  const double both = std::min(rd, wr);
  return std::min(apart, both / duplex_ceiling() + (rd - both) / read_ceiling() + (wr - both) / write_ceiling());
}

std::uint64_t ceiling_bytes_per_folder(const StepOptions& o, const StepModel& m) {
  const std::uint64_t per_folder = m.write_bytes() / o.folders.size();
  const std::uint64_t capped = std::min<std::uint64_t>(per_folder, 2ull << 30);
  return std::max<std::uint64_t>(1 << 20, capped / 4096 * 4096);
}

nlohmann::json plan_terms(const StepOptions& o) {
  std::vector<std::string> names;
  for (Schedule s : o.schedules) names.emplace_back(to_string(s));
  return {{"schedules", names}, {"rounds", o.rounds}, {"warmup_steps", o.warmup_steps}, {"steps", o.steps},
          {"validate", o.validate}};
}

std::vector<nlohmann::json> step_plan(const nlohmann::json& terms) {
  const auto schedules = terms.at("schedules").get<std::vector<std::string>>();
  const unsigned rounds = terms.at("rounds"), warmup = terms.at("warmup_steps"), total = warmup + terms.at("steps").get<unsigned>();
  std::vector<nlohmann::json> plan = {{{"event", "ceiling-prepare"}}};
  for (unsigned round = 0; round < rounds; ++round) {
    for (const char* name : {"ceiling-write", "ceiling-read", "ceiling-duplex"}) {
      plan.push_back({{"event", name}, {"round", round}});
    }
    std::vector<std::string> order = schedules;  // reversed every other round: no schedule always goes first
    if (round % 2 == 1) std::reverse(order.begin(), order.end());
    for (const std::string& name : order) {
      plan.push_back({{"event", "begin"}, {"schedule", name}, {"round", round}});
      for (unsigned k = 1; k <= total; ++k) {
        plan.push_back({{"event", "step"}, {"schedule", name}, {"round", round}, {"number", k},
                        {"warmup", k <= warmup}, {"last", k == total}});
      }
      if (terms.at("validate").get<bool>()) plan.push_back({{"event", "validate"}, {"schedule", name}, {"round", round}});
    }
  }
  plan.push_back({{"event", "ceiling-remove"}});
  return plan;
}

int run_step(const StepOptions& o) {
  catch_interrupts();
  const StepModel model(o.shape);
  check_step_targets(o, model, ceiling_bytes_per_folder(o, model));
  StepTree tree(o, model);
  tree.create();
  const StepResults results = run_workers(o, model);
  if (o.keep_files) tree.keep();
  if (o.json) {
    std::printf("%s\n", step_report_json(o, model, results).dump(2).c_str());
  } else {
    print_step_report(o, model, results);
  }
  return 0;
}

}  // namespace swapio::cli
