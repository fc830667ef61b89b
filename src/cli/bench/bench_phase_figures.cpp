// A bench phase's figures summed over its worker processes and timed loops.
#include "bench/bench_phase_figures.hpp"

#include <algorithm>

#include "bench/bench_phase.hpp"

namespace swapio::cli {
namespace {

// Adds one process's event of one timed loop; returns the seconds of its call.
double add_loop_event(PhaseFigures& f, PhaseFigures::Loop& l, const nlohmann::json& ev) {
  const double io = ev.at("call_seconds");  // the whole call, as the harness times it
  l.task = std::max(l.task, io);
  l.bytes += ev.at("bytes").get<std::uint64_t>();
  f.cpu += ev.at("cpu_seconds").get<double>();
  f.submit += ev.at("submit_seconds").get<double>();
  f.reap += ev.at("reap_seconds").get<double>();
  f.requests += ev.at("requests").get<std::uint64_t>();
  f.resubmits += ev.at("resubmits").get<std::uint64_t>();
  f.direct = f.direct && ev.at("direct").get<bool>();
  f.engines.insert(ev.at("engine").get<std::string>());
  for (const char* key : {"engine_note", "direct_note"}) {
    const std::string n = ev.at(key);
    if (!n.empty()) f.notes.insert(n);
  }
  if (const std::string g = ev.value("gds", ""); !g.empty()) f.gds.insert(g);
  f.latency.merge(Histogram::from_json(ev.at("latency")));
  return io;
}

}  // namespace

const nlohmann::json& loop_event(const WorkerProc& p, unsigned loop) {
  if (loop < p.loops.size() && !p.loops[loop].is_null()) return p.loops[loop];
  throw WorkerFailure("worker " + std::to_string(p.index) + " sent no figures for loop " + std::to_string(loop));
}

PhaseFigures aggregate_phase(const std::vector<WorkerProc>& procs, unsigned warmup_loops, const std::vector<double>& e2e) {
  PhaseFigures f;
  std::vector<double> task_per_proc(procs.size(), 0.0);
  for (const WorkerProc& p : procs) {
    f.validated = f.validated && p.last.value("validated", false);
    if (const std::string c = p.last.value("validation", ""); !c.empty()) f.checks.insert(c);
  }
  for (unsigned loop = warmup_loops; loop < e2e.size(); ++loop) {
    PhaseFigures::Loop l;
    l.e2e = e2e[loop];
    for (std::size_t k = 0; k < procs.size(); ++k) task_per_proc[k] += add_loop_event(f, l, loop_event(procs[k], loop));
    f.bytes += l.bytes;
    f.e2e_latency += l.e2e;
    f.loops.push_back(l);
  }
  f.task_latency = *std::max_element(task_per_proc.begin(), task_per_proc.end());
  return f;
}

}  // namespace swapio::cli
