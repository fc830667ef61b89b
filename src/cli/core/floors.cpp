#include "floors.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "knob_options.hpp"
#include "report_text.hpp"
#include "subprocess.hpp"
#include "swapio/error.hpp"

namespace swapio::cli {
namespace {

constexpr const char* kSwapioFile = "swapio-floor";
constexpr const char* kFioJob = "swapio-ref";

std::string tail_of(const std::string& s) {
  std::string t = s.size() > 400 ? "..." + s.substr(s.size() - 400) : s;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  for (char& c : t) {
    if (c == '\n') c = ' ';
  }
  return t;
}

// A program of the comparison failed: what it was, how it ended and the end of what it said.
[[noreturn]] void program_failed(const std::string& program, const std::string& workload, const Finished& f) {
  const std::string said = tail_of(f.err);
  throw std::runtime_error(program + ", workload " + workload + ": " + f.ended +
                           (said.empty() ? " (nothing on its standard error)" : ": " + said));
}

[[noreturn]] void unreadable(const std::string& program, const std::string& workload, const std::string& why) {
  throw std::runtime_error(program + ", workload " + workload + ": unreadable report: " + why);
}

struct Measurement {
  double gib_per_s = 0;
  double cpu_per_gib = 0;
  bool direct = true;       // swapio: whether it ran with O_DIRECT
  std::string direct_note;  // swapio: why not
  std::optional<double> contiguous_2m;  // swapio: its phase's memory_layout
  std::vector<std::string> warnings;    // swapio: the layout's warnings
};

// One program of the comparison: how to run it for a workload.
struct Program {
  std::string label;
  enum class Kind { swapio, fio, ceiling } kind;
  Engine engine = Engine::automatic;  // swapio
  std::string ioengine;               // fio: libaio or io_uring
};

Measurement run_swapio(const FloorOptions& o, const Workload& w, Engine engine) {
  const Finished f = run_program(swapio_bench_args(o, w, engine, w.write, o.folders, w.processes));
  if (f.status != 0) program_failed("swapio bench", w.name, f);
  try {
    const auto j = nlohmann::json::parse(f.out);
    const auto& ph = j.at("phases").at(0);
    Measurement m{ph.at("aggregate").at("task_gib_per_s").get<double>(), ph.at("cpu_seconds_per_gib").get<double>(),
                  ph.at("direct").get<bool>(), "", {}, {}};
    for (const auto& n : ph.at("notes")) {
      const std::string note = n;
      if (note.find("buffered") != std::string::npos) m.direct_note = note;
    }
    if (const auto layout = ph.find("memory_layout"); layout != ph.end()) {
      if (layout->at("contiguous_2m").is_number()) m.contiguous_2m = layout->at("contiguous_2m").get<double>();
      for (const auto& warning : layout->at("warnings")) m.warnings.push_back(warning.get<std::string>());
    }
    return m;
  } catch (const std::exception& e) {
    unreadable("swapio bench", w.name, e.what());
  }
}

// Removes the files whose names start with prefix + "." in each folder. Never throws.
void remove_prefixed(const std::vector<std::string>& folders, const std::string& prefix) noexcept {
  for (const std::string& folder : folders) {
    try {
      std::error_code ec;
      std::vector<std::filesystem::path> doomed;
      for (std::filesystem::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->path().filename().string().starts_with(prefix + ".")) doomed.push_back(it->path());
      }
      for (const auto& p : doomed) std::filesystem::remove(p, ec);
    } catch (...) {
      // Out of memory while listing: the files stay; nothing else to do here.
    }
  }
}

void remove_fio_files(const std::vector<std::string>& folders) { remove_prefixed(folders, kFioJob); }

// direct: as swapio ran (like with like: both O_DIRECT, or both buffered).
Measurement run_fio(const FloorOptions& o, const Workload& w, const Program& p, bool direct) {
  std::vector<std::string> a = p.kind == Program::Kind::ceiling ? o.ceiling : o.fio;
  std::string dirs;
  for (const std::string& f : o.folders) dirs += (dirs.empty() ? "" : ":") + f;
  // Like swapio bench's: writers each write a file of their own; readers all read one file
  // (in each folder), as the harness's processes do.
  const std::string where = !w.write && o.folders.size() == 1
                                ? "--filename=" + (std::filesystem::path(o.folders[0]) / (std::string(kFioJob) + ".shared")).string()
                                : "--directory=" + dirs;
  a.insert(a.end(), {std::string("--name=") + kFioJob, where, std::string("--rw=") + (w.write ? "write" : "read"),
                     "--bs=" + std::to_string(w.config.block_size), "--iodepth=" + std::to_string(w.config.queue_depth), std::string("--direct=") + (direct ? "1" : "0"),
                     "--size=" + std::to_string(w.size), "--ioengine=" + p.ioengine,
                     "--numjobs=" + std::to_string(w.processes), "--group_reporting", "--output-format=json",
                     "--invalidate=0"});
  if (p.kind == Program::Kind::ceiling) a.push_back("--fallocate=native");
  if (w.write) remove_fio_files(o.folders);  // every write to fresh files, as swapio's
  const Finished f = run_program(a);
  if (f.status != 0) program_failed(p.label, w.name, f);
  try {
    const auto brace = f.out.find('{');
    const auto j = nlohmann::json::parse(brace == std::string::npos ? f.out : f.out.substr(brace));
    const auto& job = j.at("jobs").at(0);
    const auto& side = job.at(w.write ? "write" : "read");
    const double bytes = side.at("io_bytes").get<double>();
    const double bw = side.at("bw_bytes").get<double>();
    const double cpu = (job.at("usr_cpu").get<double>() + job.at("sys_cpu").get<double>()) / 100.0 *
                       job.at("job_runtime").get<double>() / 1000.0;
    if (bytes <= 0 || bw <= 0) throw std::runtime_error("no bytes moved");
    return {bw / static_cast<double>(kGiB), cpu / (bytes / static_cast<double>(kGiB)), direct, "", {}, {}};
  } catch (const std::exception& e) {
    unreadable(p.label, w.name, e.what());
  }
}

// Reads need the files: swapio's are written once per folder by swapio itself; fio lays its own out.
void prepare_reads(const FloorOptions& o, const Workload& w) {
  for (const std::string& folder : o.folders) {
    const Finished f = run_program(swapio_bench_args(o, w, Engine::automatic, true, {folder}, 1));
    if (f.status != 0) program_failed("swapio bench (preparing reads in " + folder + ")", w.name, f);
  }
}

// The slowest round against its pair: swapio's run and the ceiling's run of the same round (the
// ceiling engine with the better median, `reference`), where the device's drift is shared.
// Skipped without a ceiling.
FloorCheck round_check(const WorkloadResult& res, const std::pair<std::string, Series>* reference, double factor) {
  FloorCheck c{"round vs ceiling", factor, 0, 0, 0, reference ? reference->first : "", false, false, res.error};
  if (!res.error.empty()) return c;
  if (reference == nullptr) {
    c.skipped = true;
    return c;
  }
  const Series& swapio = res.programs.front().second;
  const Series* ceiling = &reference->second;
  double worst = 0;
  for (std::size_t r = 0; r < std::min(swapio.gib_per_s.size(), ceiling->gib_per_s.size()); ++r) {
    const double ratio = ceiling->gib_per_s[r] > 0 ? swapio.gib_per_s[r] / ceiling->gib_per_s[r] : 1.0;
    if (c.round == 0 || ratio < worst) {
      worst = ratio;
      c.round = static_cast<unsigned>(r + 1);
      c.measured = swapio.gib_per_s[r];
      c.floor = factor * ceiling->gib_per_s[r];
    }
  }
  c.pass = c.round > 0 && c.measured >= c.floor;
  return c;
}

void remove_files(const std::vector<std::string>& folders) noexcept {
  remove_prefixed(folders, kFioJob);
  remove_prefixed(folders, kSwapioFile);
}

}  // namespace

// `swapio bench` as a user would run the workload: its knobs from the table, engine overridden.
std::vector<std::string> swapio_bench_args(const FloorOptions& o, const Workload& w, Engine engine, bool write,
                                     const std::vector<std::string>& folders, unsigned processes) {
  Config config = w.config;
  config.engine = engine;
  // Only what this run uses: bench refuses the staging ring's shape where it has no ring (the
  // write that lays out a GPU read's file) and host staging on a GPU.
  const bool gpu = !w.device.empty() && write == w.write;
  const Config defaults;
  if (gpu) config.staging = defaults.staging;
  if (!gpu && config.staging != StageMode::always) {
    config.device_chunk_size = defaults.device_chunk_size;
    config.device_chunks = defaults.device_chunks;
  }
  std::vector<std::string> a = {o.swapio, "bench", "--json", "--threads", std::to_string(processes)};
  const std::vector<std::string> knobs = knob_argv(config);
  a.insert(a.end(), knobs.begin(), knobs.end());
  if (w.handle) a.emplace_back("--handle");
  if (write == w.write) {  // the measured op (not the write that lays out a read's file)
    a.insert(a.end(), {"--loops", std::to_string(w.loops), "--warmup-loops", std::to_string(w.warmup_loops)});
  }
  if (write) {
    a.insert(a.end(), {"--write-file", kSwapioFile, "--write-size", std::to_string(w.size)});
  } else {
    a.insert(a.end(), {"--read-file", std::string(kSwapioFile) + ".0"});
  }
  if (gpu) a.insert(a.end(), {"--gpu", "--device", w.device});
  for (const std::string& f : folders) a.insert(a.end(), {"--folder", f});
  return a;
}

const Series& WorkloadResult::series(const std::string& program) const {
  for (const auto& [label, s] : programs) {
    if (label == program) return s;
  }
  throw std::out_of_range("no program " + program);
}

std::vector<WorkloadResult> run_floors(const Profile& profile, const FloorOptions& o) {
  if (o.swapio.empty()) throw ConfigError("the swapio command to measure is not given");
  if (o.folders.empty()) throw ConfigError("no folder to measure in");
  for (const std::string& f : o.folders) {
    if (!std::filesystem::is_directory(f)) throw ConfigError("folder " + f + ": not a folder");
  }
  std::vector<Program> programs = {{"swapio", Program::Kind::swapio, Engine::automatic, ""}};
  for (Engine e : o.extra_engines) {
    programs.push_back({"swapio " + std::string(to_string(e)), Program::Kind::swapio, e, ""});
  }
  if (o.plain_fio) {
    for (const char* e : {"libaio", "io_uring"}) programs.push_back({std::string("fio ") + e, Program::Kind::fio, {}, e});
  }
  if (!o.ceiling.empty()) {
    for (const char* e : {"libaio", "io_uring"}) programs.push_back({std::string("ceiling ") + e, Program::Kind::ceiling, {}, e});
  }
  const unsigned rounds = o.rounds.value_or(profile.rounds);
  // A workload none of whose floors can be checked with these references would pass unchecked.
  for (const Workload& w : profile.workloads) {
    const bool checkable = w.floor_gib_per_s || (w.floor_vs_fio && o.plain_fio) ||
                           ((w.floor_vs_ceiling || w.floor_round_vs_ceiling) && !o.ceiling.empty());
    if (!checkable) {
      throw ConfigError("workload " + w.name + ": none of its floors can be checked (" +
                        (w.floor_vs_ceiling || w.floor_round_vs_ceiling ? "floors vs the ceiling need a ceiling tool"
                                                                        : "floor_vs_fio needs plain fio") + ")");
    }
  }

  std::vector<WorkloadResult> results;
  struct Cleanup {
    const std::vector<std::string>& folders;
    ~Cleanup() { remove_files(folders); }
  } cleanup{o.folders};
  std::string stopped;  // an interrupt ended the run: the workloads after it did not run
  for (std::size_t index = 0; index < profile.workloads.size(); ++index) {
    const Workload& w = profile.workloads[index];
    if (o.before_workload) o.before_workload(index);
    WorkloadResult res;
    res.workload = w;
    std::vector<Series> series(programs.size());
    if (!stopped.empty()) {
      res.error = "not run: " + stopped;
    } else {
      // A program that fails ends its workload, whose rounds so far are kept; an interrupt ends
      // the run. Either way what was measured is reported.
      try {
        if (!w.write) prepare_reads(o, w);
        for (unsigned r = 0; r < rounds; ++r) {
          for (std::size_t k = 0; k < programs.size(); ++k) {
            const Program& p = programs[k];
            // The first program is swapio as the workload asks; the others are references.
            // swapio runs first in every round: the references then run as it did (O_DIRECT or not).
            const Measurement m = p.kind != Program::Kind::swapio ? run_fio(o, w, p, res.direct.value_or(true))
                                  : run_swapio(o, w, k == 0 ? w.config.engine : p.engine);
            if (k == 0 && !res.direct) {
              res.direct = m.direct;
              res.direct_note = m.direct_note;
            }
            series[k].gib_per_s.push_back(m.gib_per_s);
            series[k].cpu_per_gib.push_back(m.cpu_per_gib);
            if (p.kind == Program::Kind::swapio) series[k].contiguous_2m.push_back(m.contiguous_2m);
            if (k == 0) {
              for (const std::string& warning : m.warnings) {
                if (std::find(res.memory_warnings.begin(), res.memory_warnings.end(), warning) == res.memory_warnings.end()) {
                  res.memory_warnings.push_back(warning);
                }
              }
            }
            if (o.progress) {
              o.progress(w.name + " round " + std::to_string(r + 1) + "/" + std::to_string(rounds) + ": " + p.label +
                         " " + fmt("%.2f GiB/s", m.gib_per_s));
            }
          }
        }
      } catch (const ConfigError&) {
        throw;
      } catch (const std::exception& e) {
        // A program cut short by the signal fails too: it was the interrupt.
        res.error = interrupt_signal() != 0 ? std::string("interrupted by ") + strsignal(interrupt_signal()) : e.what();
        if (interrupt_signal() != 0) stopped = res.error;
      }
    }
    // The ceiling engine with the better median: the ceiling of the median floor, and the pair
    // of the per-round one.
    std::optional<std::size_t> best_ceiling;
    for (std::size_t k = 0; k < programs.size(); ++k) {
      series[k].median_gib_per_s = median(series[k].gib_per_s);
      series[k].median_cpu_per_gib = median(series[k].cpu_per_gib);
      res.programs.emplace_back(programs[k].label, series[k]);
      if (series[k].gib_per_s.empty()) continue;
      if (programs[k].kind == Program::Kind::ceiling &&
          (!best_ceiling || series[k].median_gib_per_s > series[*best_ceiling].median_gib_per_s)) {
        best_ceiling = k;
      }
      if (res.error.empty() && programs[k].kind == Program::Kind::fio) {
        res.fio_best = std::max(res.fio_best.value_or(0.0), series[k].median_gib_per_s);
      }
    }
    if (best_ceiling && res.error.empty()) res.ceiling_best = series[*best_ceiling].median_gib_per_s;
    for (const std::optional<double>& c : series.front().contiguous_2m) {
      if (c) res.contiguous_2m = std::min(res.contiguous_2m.value_or(1.0), *c);
    }
    const double measured = res.programs.front().second.median_gib_per_s;
    const auto check = [&](const char* kind, double factor, std::optional<double> base) {
      FloorCheck c{kind, factor, 0, measured, 0, "", false, res.error.empty() && !base.has_value(), res.error};
      if (base && res.error.empty()) {
        c.floor = factor * *base;
        c.pass = measured >= c.floor;
      }
      res.checks.push_back(c);
    };
    if (w.floor_gib_per_s) check("absolute", *w.floor_gib_per_s, 1.0);
    if (w.floor_vs_fio) check("vs fio", *w.floor_vs_fio, res.fio_best);
    if (w.floor_vs_ceiling) check("vs ceiling", *w.floor_vs_ceiling, res.ceiling_best);
    if (w.floor_round_vs_ceiling) {
      res.checks.push_back(round_check(res, best_ceiling ? &res.programs[*best_ceiling] : nullptr, *w.floor_round_vs_ceiling));
    }
    res.pass = res.error.empty() && std::all_of(res.checks.begin(), res.checks.end(), [](const FloorCheck& c) {
      return c.skipped || c.pass;
    });
    results.push_back(std::move(res));
    remove_files(o.folders);
    if (o.after_workload) o.after_workload(index, results.back());
  }
  return results;
}

std::string format_results(const Profile& profile, const std::vector<WorkloadResult>& results) {
  std::string s;
  bool all = true;
  for (const WorkloadResult& r : results) {
    const Workload& w = r.workload;
    s += "\n" + w.name + ": " + (w.write ? "write " : "read ") + format_bytes(w.size) +
         (w.device.empty() ? "" : " (tensor on " + w.device + ")") + " x " + std::to_string(w.processes) +
         " process" + (w.processes == 1 ? "" : "es") + ", block " + format_bytes(w.config.block_size) + ", queue depth " +
         std::to_string(w.config.queue_depth) + ", " + (w.handle ? "handle" : "basic") + ", io_parallel " +
         std::to_string(w.config.intra_op_parallelism) +
         (w.loops == 1 && w.warmup_loops == 0
              ? std::string()
              : ", swapio " + std::to_string(w.loops) + " timed loop" + (w.loops == 1 ? "" : "s") + " after " +
                    std::to_string(w.warmup_loops) + " warm-up" + (w.warmup_loops == 1 ? "" : "s") + " per round") +
         (!r.direct ? "\n" : *r.direct ? ", O_DIRECT (every program)\n" : ", buffered (every program: " + r.direct_note + ")\n");
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
    if (!r.error.empty()) s += "  ERROR: " + r.error + "\n";
    for (const FloorCheck& c : r.checks) {
      if (!c.error.empty()) {
        s += "  floor " + c.kind + " " + fmt(c.kind == "absolute" ? "%.2f GiB/s" : "%.2fx", c.factor) +
             ": not checked (the workload did not finish)\n";
        continue;
      }
      if (c.skipped) {
        s += "  floor " + c.kind + " " + fmt("%.2fx", c.factor) + ": skipped (" +
             (c.kind == "vs fio" ? "plain fio not measured" : "no ceiling tool given") + ")\n";
        continue;
      }
      if (c.kind == "round vs ceiling") {
        s += "  floor " + c.kind + " " + fmt("%.2fx", c.factor) + ", the slowest round (" + std::to_string(c.round) +
             ", paired with " + c.reference + "): swapio " + fmt("%.2f GiB/s", c.measured) + ", floor " +
             fmt("%.2f GiB/s", c.floor) + " " + (c.pass ? "PASS" : "FAIL") + "\n";
        continue;
      }
      const std::string what = c.kind == "absolute" ? fmt("%.2f GiB/s", c.factor)
                                                    : fmt("%.2fx", c.factor) + " = " + fmt("%.2f GiB/s", c.floor);
      s += "  floor " + c.kind + " " + what + ": swapio " + fmt("%.2f GiB/s", c.measured) + " " + (c.pass ? "PASS" : "FAIL") + "\n";
    }
    if (r.contiguous_2m) {
      s += "  swapio's I/O memory: " + fmt("%.0f%%", *r.contiguous_2m * 100) +
           " physically contiguous in >= 2 MiB pieces (the least of its rounds)\n";
    }
    for (const std::string& warning : r.memory_warnings) s += "  warning: swapio " + warning + "\n";
    all = all && r.pass;
  }
  s += "\nprofile " + profile.name + ": " + (all ? "PASS" : "FAIL") + " (" + std::to_string(results.size()) + " workload" +
       (results.size() == 1 ? "" : "s") + ")\n";
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

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

nlohmann::json workload_to_json(const WorkloadResult& r) {
  const Workload& w = r.workload;
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
  nlohmann::json checks = nlohmann::json::array();
  const bool measured = !r.programs.empty() && !r.programs.front().second.gib_per_s.empty();
  for (const FloorCheck& c : r.checks) {
    checks.push_back({{"kind", c.kind}, {"factor", c.factor}, {"floor_gib_per_s", c.floor},
                      {"measured_gib_per_s", measured ? nlohmann::json(c.measured) : nlohmann::json()}, {"pass", c.pass}, {"skipped", c.skipped},
                      {"round", c.round > 0 ? nlohmann::json(c.round) : nlohmann::json()},
                      {"reference", c.reference.empty() ? nlohmann::json() : nlohmann::json(c.reference)},
                      {"error", c.error.empty() ? nlohmann::json() : nlohmann::json(c.error)}});
  }
  nlohmann::json workload = knobs_to_json(w.config);
  workload.update({{"name", w.name},
                   {"op", w.write ? "write" : "read"},
                   {"size", w.size},
                   {"processes", w.processes},
                   {"loops", w.loops},
                   {"warmup_loops", w.warmup_loops},
                   {"handle", w.handle},
                   {"programs", programs},
                   {"fio_best_gib_per_s", r.fio_best ? nlohmann::json(*r.fio_best) : nlohmann::json()},
                   {"ceiling_best_gib_per_s", r.ceiling_best ? nlohmann::json(*r.ceiling_best) : nlohmann::json()},
                   {"checks", checks},
                   {"error", r.error.empty() ? nlohmann::json() : nlohmann::json(r.error)},
                   {"direct", r.direct ? nlohmann::json(*r.direct) : nlohmann::json()},
                   {"direct_note", r.direct_note},
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
