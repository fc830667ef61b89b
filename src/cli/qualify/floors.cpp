// run_floors: a profile's workloads, one after the other, each in interleaved rounds of swapio
// and its references (floors_programs.hpp), each judged from its rounds (floors_verdict.hpp).
#include "qualify/floors.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "common/report_text.hpp"
#include "common/subprocess.hpp"
#include "qualify/floors_programs.hpp"
#include "qualify/floors_verdict.hpp"
#include "swapio/error.hpp"

namespace swapio::cli {
namespace {

void check_options(const FloorOptions& o) {
  if (o.swapio.empty()) throw ConfigError("the swapio command to measure is not given");
  if (o.folders.empty()) throw ConfigError("no folder to measure in");
  for (const std::string& f : o.folders) {
    if (!std::filesystem::is_directory(f)) throw ConfigError("folder " + f + ": not a folder");
  }
}

// The programs of a round, in the order they run: swapio first, then its other engines, plain
// fio's engines and the ceiling's.
std::vector<FloorProgram> programs_of(const FloorOptions& o) {
  std::vector<FloorProgram> programs = {{"swapio", FloorProgram::Kind::swapio, Engine::automatic, ""}};
  for (Engine e : o.extra_engines) {
    programs.push_back({"swapio " + std::string(to_string(e)), FloorProgram::Kind::swapio, e, ""});
  }
  if (o.plain_fio) {
    for (const char* e : {"libaio", "io_uring"}) programs.push_back({std::string("fio ") + e, FloorProgram::Kind::fio, {}, e});
  }
  if (!o.ceiling.empty()) {
    for (const char* e : {"libaio", "io_uring"}) programs.push_back({std::string("ceiling ") + e, FloorProgram::Kind::ceiling, {}, e});
  }
  return programs;
}

// A workload none of whose floors can be checked with these references would pass unchecked.
void check_checkable(const Profile& profile, const FloorOptions& o) {
  for (const Workload& w : profile.workloads) {
    const bool checkable = w.floor_gib_per_s || w.floor_vs_lower_bound || w.floor_step_seconds || (w.floor_vs_fio && o.plain_fio) ||
                           ((w.floor_vs_ceiling || w.floor_round_vs_ceiling) && !o.ceiling.empty());
    if (!checkable) {
      throw ConfigError("workload " + w.name + ": none of its floors can be checked (" +
                        (w.floor_vs_ceiling || w.floor_round_vs_ceiling ? "floors vs the ceiling need a ceiling tool"
                                                                        : "floor_vs_fio needs plain fio") + ")");
    }
  }
}

// A run's figures into its program's series; swapio's first run says how every program runs
// (O_DIRECT or not), and its memory warnings are kept once each.
void record(WorkloadResult& res, Series& series, const FloorProgram& p, bool first, const FloorMeasurement& m) {
  if (first && !res.direct) {
    res.direct = m.direct;
    res.direct_note = m.direct_note;
    res.gds = m.gds;
  }
  series.gib_per_s.push_back(m.gib_per_s);
  series.cpu_per_gib.push_back(m.cpu_per_gib);
  if (m.lower_bound_gib_per_s) series.lower_bound_gib_per_s.push_back(*m.lower_bound_gib_per_s);
  if (m.step_seconds) series.step_seconds.push_back(*m.step_seconds);
  if (p.kind == FloorProgram::Kind::swapio) series.contiguous_2m.push_back(m.contiguous_2m);
  if (!first) return;
  for (const std::string& warning : m.warnings) {
    if (std::find(res.memory_warnings.begin(), res.memory_warnings.end(), warning) == res.memory_warnings.end()) {
      res.memory_warnings.push_back(warning);
    }
  }
}

// The workload's rounds, every program once a round. Throws as the programs do; what was
// measured until then stays in res and series.
void measure_rounds(const FloorOptions& o, const Workload& w, unsigned rounds, const std::vector<FloorProgram>& programs,
                    WorkloadResult& res, std::vector<Series>& series) {
  if (w.step) {  // a step measures its own lower bound: no fio
    for (unsigned r = 0; r < rounds; ++r) {
      const FloorMeasurement m = run_step_workload(o, w);
      record(res, series[0], programs[0], true, m);
      if (o.progress) {
        o.progress(w.name + " round " + std::to_string(r + 1) + "/" + std::to_string(rounds) + ": swapio step " +
                   fmt("%.2f GiB/s", m.gib_per_s) + fmt(", step %.3f s", m.step_seconds.value_or(0)));
      }
    }
    return;
  }
  if (!w.write) prepare_reads(o, w);
  for (unsigned r = 0; r < rounds; ++r) {
    for (std::size_t k = 0; k < programs.size(); ++k) {
      const FloorProgram& p = programs[k];
      // The first program is swapio as the workload asks; the others are references.
      // swapio runs first in every round: the references then run as it did (O_DIRECT or not).
      const FloorMeasurement m = p.kind != FloorProgram::Kind::swapio ? run_fio(o, w, p, res.direct.value_or(true))
                                 : run_swapio(o, w, k == 0 ? w.config.engine : p.engine);
      record(res, series[k], p, k == 0, m);
      if (o.progress) {
        o.progress(w.name + " round " + std::to_string(r + 1) + "/" + std::to_string(rounds) + ": " + p.label +
                   " " + fmt("%.2f GiB/s", m.gib_per_s));
      }
    }
  }
}

// One workload, measured and judged. stopped: set when an interrupt ended the run, after which
// the workloads are not run (their result says so).
WorkloadResult run_workload(const FloorOptions& o, const Workload& w, unsigned rounds,
                            const std::vector<FloorProgram>& programs, std::string& stopped) {
  WorkloadResult res;
  res.workload = w;
  std::vector<Series> series(programs.size());
  if (!stopped.empty()) {
    res.error = "not run: " + stopped;
  } else {
    // A program that fails ends its workload, whose rounds so far are kept; an interrupt ends
    // the run. Either way what was measured is reported.
    try {
      measure_rounds(o, w, rounds, programs, res, series);
    } catch (const ConfigError&) {
      throw;
    } catch (const std::exception& e) {
      // A program cut short by the signal fails too: it was the interrupt.
      res.error = interrupt_signal() != 0 ? std::string("interrupted by ") + strsignal(interrupt_signal()) : e.what();
      if (interrupt_signal() != 0) stopped = res.error;
    }
  }
  judge_workload(res, programs, std::move(series));
  return res;
}

}  // namespace

std::vector<WorkloadResult> run_floors(const Profile& profile, const FloorOptions& o) {
  check_options(o);
  const std::vector<FloorProgram> programs = programs_of(o);
  const unsigned rounds = o.rounds.value_or(profile.rounds);
  check_checkable(profile, o);

  std::vector<WorkloadResult> results;
  struct Cleanup {
    const std::vector<std::string>& folders;
    ~Cleanup() { remove_files(folders); }
  } cleanup{o.folders};
  std::string stopped;  // an interrupt ended the run: the workloads after it did not run
  for (std::size_t index = 0; index < profile.workloads.size(); ++index) {
    if (o.before_workload) o.before_workload(index);
    results.push_back(run_workload(o, profile.workloads[index], rounds, programs, stopped));
    remove_files(o.folders);
    if (o.after_workload) o.after_workload(index, results.back());
  }
  return results;
}

}  // namespace swapio::cli
