// The JSON report of one bench phase (figures, processes, memory layout), and the layout's words.
#include "bench/bench_phase_report.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>

#include "bench/bench_phase_figures.hpp"
#include "swapio/config.hpp"

namespace swapio::cli {
namespace {

// A string field, or "" where it is missing or not a string (null: not measured).
std::string text_of(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string percent(double fraction) {
  char b[32];
  std::snprintf(b, sizeof b, fraction >= 0.1 ? "%.0f%%" : "%.1f%%", fraction * 100);
  return b;
}

double gib_per_s(std::uint64_t bytes, double seconds) {
  return seconds > 0 ? static_cast<double>(bytes) / static_cast<double>(kGiB) / seconds : 0.0;
}

nlohmann::json loops_json(const PhaseFigures& f) {
  nlohmann::json loops = nlohmann::json::array();
  for (std::size_t i = 0; i < f.loops.size(); ++i) {
    const PhaseFigures::Loop& l = f.loops[i];
    loops.push_back({{"loop", i},
                     {"bytes", l.bytes},
                     {"task_latency_s", l.task},
                     {"task_gib_per_s", gib_per_s(l.bytes, l.task)},
                     {"e2e_latency_s", l.e2e},
                     {"e2e_gib_per_s", gib_per_s(l.bytes, l.e2e)}});
  }
  return loops;
}

nlohmann::json processes_json(const BenchOptions& o, const PhaseWorkers& workers) {
  nlohmann::json processes = nlohmann::json::array();
  for (const WorkerProc& p : workers.procs()) {
    processes.push_back({{"index", p.index}, {"pid", p.pid}, {"path", workers.paths()[p.index]}, {"device", o.device_for(p.index)}});
  }
  return processes;
}

// Every process's I/O memory layout, the least contiguous of them, and a warning for each
// process below kLowContiguity. With buffered I/O the kernel copies through the page cache, so
// the tensor's layout costs nothing: no warning.
nlohmann::json memory_layout(const std::vector<WorkerProc>& procs, bool direct) {
  nlohmann::json processes = nlohmann::json::array(), warnings = nlohmann::json::array();
  std::optional<double> least;
  for (const WorkerProc& p : procs) {
    nlohmann::json m = p.memory.is_object() ? p.memory : nlohmann::json{{"memory", "unknown"}, {"source", nullptr}};
    m["index"] = p.index;
    if (const auto c = m.find("contiguous_2m"); c != m.end() && c->is_number()) {
      least = std::min(least.value_or(1.0), c->get<double>());
    }
    if (const std::string w = layout_warning(p.index, m); !w.empty() && direct) warnings.push_back(w);
    processes.push_back(std::move(m));
  }
  return {{"contiguous_2m", least ? nlohmann::json(*least) : nlohmann::json()},
          {"low_below", kLowContiguity},
          {"direct", direct},
          {"processes", processes},
          {"warnings", warnings}};
}

}  // namespace

nlohmann::json phase_report(const BenchOptions& o, bool write, const PhaseWorkers& workers, const std::vector<double>& e2e) {
  const std::vector<WorkerProc>& procs = workers.procs();
  const PhaseFigures f = aggregate_phase(procs, o.warmup_loops, e2e);
  nlohmann::json loops = loops_json(f);
  nlohmann::json processes = processes_json(o, workers);
  const double gib = static_cast<double>(f.bytes) / static_cast<double>(kGiB);
  std::string engine;
  for (const auto& e : f.engines) engine += (engine.empty() ? "" : ",") + e;
  return {{"op", write ? "write" : "read"},
          {"complete", true},
          {"processes", processes},
          {"bytes_per_process", loop_event(procs[0], o.warmup_loops).at("bytes")},
          {"loops", loops},
          {"aggregate",
           {{"bytes", f.bytes},
            {"task_latency_s", f.task_latency},
            {"task_gib_per_s", gib_per_s(f.bytes, f.task_latency)},
            {"e2e_latency_s", f.e2e_latency},
            {"e2e_gib_per_s", gib_per_s(f.bytes, f.e2e_latency)}}},
          {"latency_us",
           {{"requests", f.latency.count()},
            {"p50", f.latency.percentile_us(0.50)},
            {"p99", f.latency.percentile_us(0.99)},
            {"p99.9", f.latency.percentile_us(0.999)},
            {"max", f.latency.max_us()}}},
          {"requests", f.requests},
          {"resubmits", f.resubmits},
          {"submit_seconds", f.submit},
          {"reap_seconds", f.reap},
          {"cpu_seconds", f.cpu},
          {"cpu_seconds_per_gib", gib > 0 ? f.cpu / gib : 0},
          {"engine", engine},
          {"direct", f.direct},
          {"notes", f.notes},
          {"gds", f.gds.empty() ? nlohmann::json() : nlohmann::json(*f.gds.begin())},
          {"validated", o.validate && f.validated},
          {"validation", f.checks},
          {"memory_layout", memory_layout(procs, f.direct)}};
}

std::string layout_warning(unsigned process, const nlohmann::json& memory) {
  const auto c = memory.find("contiguous_2m");
  if (c == memory.end() || !c->is_number() || c->get<double>() >= kLowContiguity) return "";
  const bool physical = text_of(memory, "source") == "pagemap";
  std::string why = physical ? "pagemap" : "smaps: huge pages only, physical addresses need root";
  if (const auto w = memory.find("worst_segments_per_mib"); physical && w != memory.end() && w->is_number()) {
    why += ", up to " + std::to_string(w->get<std::size_t>()) + " segments per MiB";
  }
  return "process " + std::to_string(process) + ": only " + percent(c->get<double>()) +
         " of its I/O memory is physically contiguous in 2 MiB pieces (" + why +
         "): requests need more DMA segments than many devices take in one and are split, which can halve the speed "
         "(see \"Memory layout\" in the README)";
}

std::string layout_line(const nlohmann::json& layout) {
  const auto& procs = layout.at("processes");
  const auto least = layout.at("contiguous_2m");
  if (!least.is_number()) {
    const std::string what = procs.empty() || text_of(procs.at(0), "memory").empty() ? "unknown" : text_of(procs.at(0), "memory");
    return what.starts_with("staging ring") ? "swapio's " + what + ": its own huge pages, not measured"
                                            : what + ": layout not readable (/proc/self/pagemap, smaps)";
  }
  bool physical = true;
  std::size_t worst = 0;
  for (const auto& p : procs) {
    if (!p.contains("contiguous_2m") || !p.at("contiguous_2m").is_number()) continue;  // not measured
    physical = physical && text_of(p, "source") == "pagemap";
    if (const auto w = p.find("worst_segments_per_mib"); w != p.end() && w->is_number()) worst = std::max(worst, w->get<std::size_t>());
  }
  const bool buffered = layout.contains("direct") && layout.at("direct") == false;
  return std::string(physical ? "" : "about ") + percent(least.get<double>()) +
         " physically contiguous in >= 2 MiB pieces" + (procs.size() > 1 ? " (the least of the processes)" : "") +
         (physical ? "; at most " + std::to_string(worst) + " segment" + (worst == 1 ? "" : "s") + " per MiB (pagemap)"
                   : " (smaps: huge pages; physical addresses need root)") +
         (buffered ? "; buffered I/O copies through the page cache, so it does not matter here" : "");
}

}  // namespace swapio::cli
