// Runs the programs of a floor measurement (swapio bench as users run it, fio plain and with
// contiguous buffers) and reads their figures from their JSON reports.
#include "qualify/floors_programs.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <system_error>

#include "common/knob_options.hpp"
#include "common/subprocess.hpp"

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

// fio's command line for the workload, like swapio bench's run of it.
std::vector<std::string> fio_args(const FloorOptions& o, const Workload& w, const FloorProgram& p, bool direct) {
  std::vector<std::string> a = p.kind == FloorProgram::Kind::ceiling ? o.ceiling : o.fio;
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
  if (p.kind == FloorProgram::Kind::ceiling) a.push_back("--fallocate=native");
  return a;
}

}  // namespace

FloorMeasurement run_swapio(const FloorOptions& o, const Workload& w, Engine engine) {
  const Finished f = run_program(swapio_bench_args(o, w, engine, w.write, o.folders, w.processes));
  if (f.status != 0) program_failed("swapio bench", w.name, f);
  try {
    const auto j = nlohmann::json::parse(f.out);
    const auto& ph = j.at("phases").at(0);
    FloorMeasurement m{ph.at("aggregate").at("task_gib_per_s").get<double>(), ph.at("cpu_seconds_per_gib").get<double>(),
                       ph.at("direct").get<bool>(), "", "", {}, {}, {}, {}};
    if (const auto g = ph.find("gds"); g != ph.end() && g->is_string()) m.gds = g->get<std::string>();
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

FloorMeasurement run_step_workload(const FloorOptions& o, const Workload& w) {
  std::vector<std::string> argv = {o.swapio, "step"};
  argv.insert(argv.end(), w.step_args.begin(), w.step_args.end());
  for (const std::string& f : o.folders) argv.insert(argv.end(), {"--folder", f});
  argv.insert(argv.end(), {"--rounds", "1", "--json"});
  const Finished f = run_program(argv);
  if (f.status != 0) program_failed("swapio step", w.name, f);
  try {
    const auto j = nlohmann::json::parse(f.out);
    const auto& schedules = j.at("schedules");
    const auto& s = schedules.begin().value();  // the workload's schedule (or the first of all)
    FloorMeasurement m;
    m.gib_per_s = s.at("gib_per_s").get<double>();
    m.step_seconds = s.at("median_seconds").get<double>();
    const double efficiency = s.at("efficiency").get<double>();
    m.lower_bound_gib_per_s = efficiency > 0 ? m.gib_per_s / efficiency : 0;
    return m;
  } catch (const std::exception& e) {
    unreadable("swapio step", w.name, e.what());
  }
}

FloorMeasurement run_fio(const FloorOptions& o, const Workload& w, const FloorProgram& p, bool direct) {
  const std::vector<std::string> a = fio_args(o, w, p, direct);
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
    return {bw / static_cast<double>(kGiB), cpu / (bytes / static_cast<double>(kGiB)), direct, "", "", {}, {}, {}, {}};
  } catch (const std::exception& e) {
    unreadable(p.label, w.name, e.what());
  }
}

void prepare_reads(const FloorOptions& o, const Workload& w) {
  for (const std::string& folder : o.folders) {
    const Finished f = run_program(swapio_bench_args(o, w, Engine::automatic, true, {folder}, 1));
    if (f.status != 0) program_failed("swapio bench (preparing reads in " + folder + ")", w.name, f);
  }
}

void remove_files(const std::vector<std::string>& folders) noexcept {
  remove_prefixed(folders, kFioJob);
  remove_prefixed(folders, kSwapioFile);
}

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

}  // namespace swapio::cli
