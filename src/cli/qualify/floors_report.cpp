// The floor measurement's reports: for people (every round of every program, medians, ratios,
// each floor) and as JSON.
#include <cstdio>
#include <stdexcept>

#include "common/knob_options.hpp"
#include "common/report_text.hpp"
#include "qualify/floors.hpp"

namespace swapio::cli {
namespace {

// "write-1g: write 1.0 GiB x 4 processes, block 1.0 MiB, ..., O_DIRECT (every program)".
std::string workload_heading(const WorkloadResult& r) {
  const Workload& w = r.workload;
  return w.name + ": " + (w.write ? "write " : "read ") + format_bytes(w.size) +
         (w.device.empty() ? "" : " (tensor on " + w.device + ")") + " x " + std::to_string(w.processes) +
         " process" + (w.processes == 1 ? "" : "es") + ", block " + format_bytes(w.config.block_size) + ", queue depth " +
         std::to_string(w.config.queue_depth) + ", " + (w.handle ? "handle" : "basic") + ", io_parallel " +
         std::to_string(w.config.intra_op_parallelism) +
         (w.loops == 1 && w.warmup_loops == 0
              ? std::string()
              : ", swapio " + std::to_string(w.loops) + " timed loop" + (w.loops == 1 ? "" : "s") + " after " +
                    std::to_string(w.warmup_loops) + " warm-up" + (w.warmup_loops == 1 ? "" : "s") + " per round") +
         (!r.direct ? "\n" : *r.direct ? ", O_DIRECT (every program)\n" : ", buffered (every program: " + r.direct_note + ")\n");
}

// Every program's rounds, medians and swapio's ratio to it.
std::string program_table(const WorkloadResult& r) {
  std::string s;
  char line[512];
  std::snprintf(line, sizeof line, "  %-18s %-44s %8s %10s %12s\n", "program", "GiB/s per round", "median", "CPU s/GiB",
                "swapio/this");
  s += line;
  const double swapio = r.programs.front().second.median_gib_per_s;
  for (const auto& [label, series] : r.programs) {
    std::string rounds;
    for (double g : series.gib_per_s) rounds += (rounds.empty() ? "" : " ") + fmt("%.2f", g);
    std::snprintf(line, sizeof line, "  %-18s %-44s %8.2f %10.3f %11.2fx\n", label.c_str(), rounds.c_str(),
                  series.median_gib_per_s, series.median_cpu_per_gib,
                  series.median_gib_per_s > 0 ? swapio / series.median_gib_per_s : 0.0);
    s += line;
  }
  return s;
}

std::string check_line(const FloorCheck& c) {
  if (!c.error.empty()) {
    return "  floor " + c.kind + " " + fmt(c.kind == "absolute" ? "%.2f GiB/s" : "%.2fx", c.factor) +
           ": not checked (the workload did not finish)\n";
  }
  if (c.skipped) {
    return "  floor " + c.kind + " " + fmt("%.2fx", c.factor) + ": skipped (" +
           (c.kind == "vs fio" ? "plain fio not measured" : "no ceiling tool given") + ")\n";
  }
  if (c.kind == "step time") {
    return "  floor step time " + fmt("%.3f s", c.factor) + " = " + fmt("%.2f GiB/s", c.floor) + ": swapio " +
           fmt("%.2f GiB/s", c.measured) + " " + (c.pass ? "PASS" : "FAIL") + "\n";
  }
  if (c.kind == "round vs ceiling") {
    return "  floor " + c.kind + " " + fmt("%.2fx", c.factor) + ", the slowest round (" + std::to_string(c.round) +
           ", paired with " + c.reference + "): swapio " + fmt("%.2f GiB/s", c.measured) + ", floor " +
           fmt("%.2f GiB/s", c.floor) + " " + (c.pass ? "PASS" : "FAIL") + "\n";
  }
  const std::string what = c.kind == "absolute" ? fmt("%.2f GiB/s", c.factor)
                                                : fmt("%.2fx", c.factor) + " = " + fmt("%.2f GiB/s", c.floor);
  return "  floor " + c.kind + " " + what + ": swapio " + fmt("%.2f GiB/s", c.measured) + " " + (c.pass ? "PASS" : "FAIL") + "\n";
}

std::string workload_text(const WorkloadResult& r) {
  std::string s = "\n" + workload_heading(r) + program_table(r);
  if (!r.error.empty()) s += "  ERROR: " + r.error + "\n";
  for (const FloorCheck& c : r.checks) s += check_line(c);
  if (r.contiguous_2m) {
    s += "  swapio's I/O memory: " + fmt("%.0f%%", *r.contiguous_2m * 100) +
         " physically contiguous in >= 2 MiB pieces (the least of its rounds)\n";
  }
  for (const std::string& warning : r.memory_warnings) s += "  warning: swapio " + warning + "\n";
  return s;
}

// A line per failed workload and per floor missed.
std::string failures_text(const std::vector<WorkloadResult>& results) {
  std::string s;
  for (const WorkloadResult& r : results) {
    if (!r.error.empty()) s += "FAILED: " + r.workload.name + ": " + r.error + "\n";
    for (const FloorCheck& c : r.checks) {
      if (c.error.empty() && !c.skipped && !c.pass) {
        s += "FAILED: " + r.workload.name + ": swapio " + fmt("%.2f GiB/s", c.measured) +
             (c.kind == "round vs ceiling" ? " in round " + std::to_string(c.round) : std::string()) +
             " is below the floor " + c.kind + " of " + fmt("%.2f GiB/s", c.floor) + "\n";
      }
    }
  }
  return s;
}

// A workload's programs in the JSON report: rounds and medians each.
nlohmann::json programs_json(const WorkloadResult& r) {
  nlohmann::json programs = nlohmann::json::object();
  for (const auto& [label, s] : r.programs) {
    nlohmann::json contiguous = nlohmann::json::array();
    for (const auto& c : s.contiguous_2m) contiguous.push_back(c ? nlohmann::json(*c) : nlohmann::json());
    // A program that never ran has no median: null, not 0.
    const auto figure = [&](double x) { return s.gib_per_s.empty() ? nlohmann::json() : nlohmann::json(x); };
    programs[label] = {{"gib_per_s", s.gib_per_s},
                       {"cpu_seconds_per_gib", s.cpu_per_gib},
                       {"median_gib_per_s", figure(s.median_gib_per_s)},
                       {"median_cpu_seconds_per_gib", figure(s.median_cpu_per_gib)}};
    if (!s.contiguous_2m.empty()) programs[label]["memory_contiguous_2m"] = contiguous;
  }
  return programs;
}

nlohmann::json checks_json(const WorkloadResult& r) {
  nlohmann::json checks = nlohmann::json::array();
  const bool measured = !r.programs.empty() && !r.programs.front().second.gib_per_s.empty();
  for (const FloorCheck& c : r.checks) {
    checks.push_back({{"kind", c.kind}, {"factor", c.factor}, {"floor_gib_per_s", c.floor},
                      {"measured_gib_per_s", measured ? nlohmann::json(c.measured) : nlohmann::json()}, {"pass", c.pass}, {"skipped", c.skipped},
                      {"round", c.round > 0 ? nlohmann::json(c.round) : nlohmann::json()},
                      {"reference", c.reference.empty() ? nlohmann::json() : nlohmann::json(c.reference)},
                      {"error", c.error.empty() ? nlohmann::json() : nlohmann::json(c.error)}});
  }
  return checks;
}

}  // namespace

const Series& WorkloadResult::series(const std::string& program) const {
  for (const auto& [label, s] : programs) {
    if (label == program) return s;
  }
  throw std::out_of_range("no program " + program);
}

std::string format_results(const Profile& profile, const std::vector<WorkloadResult>& results) {
  std::string s;
  bool all = true;
  for (const WorkloadResult& r : results) {
    s += workload_text(r);
    all = all && r.pass;
  }
  s += "\nprofile " + profile.name + ": " + (all ? "PASS" : "FAIL") + " (" + std::to_string(results.size()) + " workload" +
       (results.size() == 1 ? "" : "s") + ")\n";
  return s + failures_text(results);
}

nlohmann::json workload_to_json(const WorkloadResult& r) {
  const Workload& w = r.workload;
  nlohmann::json workload = knobs_to_json(w.config);
  workload.update({{"name", w.name},
                   {"op", w.step ? "step" : w.write ? "write" : "read"},
                   {"size", w.size},
                   {"processes", w.processes},
                   {"loops", w.loops},
                   {"warmup_loops", w.warmup_loops},
                   {"handle", w.handle},
                   {"programs", programs_json(r)},
                   {"fio_best_gib_per_s", r.fio_best ? nlohmann::json(*r.fio_best) : nlohmann::json()},
                   {"ceiling_best_gib_per_s", r.ceiling_best ? nlohmann::json(*r.ceiling_best) : nlohmann::json()},
                   {"checks", checks_json(r)},
                   {"error", r.error.empty() ? nlohmann::json() : nlohmann::json(r.error)},
                   {"direct", r.direct ? nlohmann::json(*r.direct) : nlohmann::json()},
                   {"direct_note", r.direct_note},
                   {"gds_path", r.gds.empty() ? nlohmann::json() : nlohmann::json(r.gds)},
                   {"memory_contiguous_2m", r.contiguous_2m ? nlohmann::json(*r.contiguous_2m) : nlohmann::json()},
                   {"memory_warnings", r.memory_warnings},
                   {"pass", r.pass}});
  return workload;
}

nlohmann::json results_to_json(const Profile& profile, const std::vector<WorkloadResult>& results) {
  nlohmann::json out = {{"profile", profile.name}, {"workloads", nlohmann::json::array()}};
  bool all = true;
  for (const WorkloadResult& r : results) {
    out["workloads"].push_back(workload_to_json(r));
    all = all && r.pass;
  }
  out["pass"] = all;
  return out;
}

}  // namespace swapio::cli
