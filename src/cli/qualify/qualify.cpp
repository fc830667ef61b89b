// `swapio qualify`: its options, the checks made before anything runs, and the run itself
// (the screen, JSON and JUnit reports are qualify_report.cpp's).
#include "qualify/qualify.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "bench/bench_options.hpp"
#include "common/report_text.hpp"
#include "common/subprocess.hpp"
#include "qualify/floors.hpp"
#include "qualify/qualify_report.hpp"
#include "swapio/device.hpp"
#include "swapio/error.hpp"

namespace swapio::cli {

const char* const kQuickProfile = R"({
  "name": "quick",
  "description": "A short check of the default settings (1 MiB blocks, queue depth 32, one process): swapio must at least match the faster of plain fio's engines on the same folder, and a small optimizer step's swap traffic must reach half its I/O lower bound.",
  "rounds": 3,
  "workloads": [
    { "name": "write-default", "op": "write", "size": "256M", "floor_vs_fio": 1.0 },
    { "name": "read-default", "op": "read", "size": "256M", "floor_vs_fio": 1.0 },
    { "name": "step-small", "op": "step", "params": "32M", "sub_group_size": "4M", "steps": 2, "warmup_steps": 1,
      "floor_vs_lower_bound": 0.5 }
  ]
})";

namespace {

// fio's version ("fio-3.33"), or "" where it does not run.
std::string fio_version() {
  try {
    const Finished f = run_program({"fio", "--version"});
    if (f.status != 0) return "";
    std::string v = f.out;
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
    return v.empty() ? "fio" : v;
  } catch (const Error&) {
    return "";
  }
}

// A temporary folder under the current directory, removed with everything in it.
struct TempFolder {
  std::string path;
  TempFolder() {
    // mkdtemp replaces the six trailing X of its template with a unique suffix.
    std::string tmpl = (std::filesystem::current_path() / ("swapio-qualify-" + std::string(6, 'X'))).string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      throw ConfigError("cannot make a temporary folder in " + std::filesystem::current_path().string() + ": " +
                        std::strerror(errno));
    }
    path = tmpl;
  }
  ~TempFolder() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// The most a workload has on each folder at once: swapio's files beside fio's (a write), or the
// file swapio reads beside fio's own (a read). Processes go to folder i mod n.
std::vector<SpaceNeed> space_needed(const Profile& profile, const std::vector<std::string>& folders) {
  std::vector<SpaceNeed> needs;
  for (const std::string& f : folders) needs.push_back({f, 0});
  for (const Workload& w : profile.workloads) {
    for (std::size_t j = 0; j < folders.size(); ++j) {
      std::uint64_t procs = 0;
      for (unsigned i = 0; i < w.processes; ++i) procs += i % folders.size() == j ? 1 : 0;
      const std::uint64_t files = w.write ? 2 * procs : 1 + (folders.size() == 1 ? 1 : procs);
      needs[j].bytes = std::max(needs[j].bytes, files * w.size);
    }
  }
  return needs;
}


// Where the screen goes: stdout, or nowhere for a quiet run (a fleet's rank: its report goes to
// the hooks).
struct Screen {
  FILE* file;
  explicit Screen(bool quiet) : file(quiet ? std::fopen("/dev/null", "w") : stdout) {
    if (file == nullptr) throw_io_error(errno, "open", "/dev/null");
  }
  ~Screen() {
    if (file != stdout) std::fclose(file);
  }
  Screen(const Screen&) = delete;
  Screen& operator=(const Screen&) = delete;
};

// The folders and the report files are writable, before anything runs.
void check_destinations(const QualifyOptions& o) {
  for (const std::string& f : o.folders) {
    check_writable_folder("--folder", f);
  }
  if (!o.json.empty()) check_writable_file_folder("--json " + o.json, o.json);
  if (!o.junit.empty()) check_writable_file_folder("--junit " + o.junit, o.junit);
}

// Every GPU a workload names is there.
void check_gpus(const Profile& profile) {
  for (const Workload& w : profile.workloads) {
    if (w.device.empty() || w.device == "emulated") continue;
    std::string why;
    if (cuda_device_count(&why) == 0) {
      throw ConfigError("workload " + w.name + " needs GPU " + w.device + ", but " + why);
    }
  }
}

// What the profile's floors are compared with.
struct References {
  bool plain_fio = false;            // a floor_vs_fio needs it
  bool needs_ceiling = false;        // a floor vs the ceiling wants a --ceiling tool
  std::string fio;                   // fio's version ("" where not needed, or it does not run)
  std::vector<std::string> ceiling;  // the --ceiling command's words
};

// Throws ConfigError where a GPU or fio the profile needs is not there.
References references(const QualifyOptions& o, const Profile& profile) {
  References refs;
  for (const Workload& w : profile.workloads) {
    refs.plain_fio = refs.plain_fio || w.floor_vs_fio.has_value();
    refs.needs_ceiling = refs.needs_ceiling || w.floor_vs_ceiling.has_value() || w.floor_round_vs_ceiling.has_value();
  }
  check_gpus(profile);
  refs.fio = refs.plain_fio || !o.ceiling.empty() ? fio_version() : "";
  if (refs.plain_fio && refs.fio.empty()) {
    throw ConfigError("fio is not installed, and profile " + profile.name +
                      " compares with it (floor_vs_fio): install fio, or give a profile with absolute floors");
  }
  if (!o.ceiling.empty()) {
    std::stringstream words(o.ceiling);
    for (std::string w; words >> w;) refs.ceiling.push_back(w);
  }
  return refs;
}

// The measurement's options; show_progress: a line per run on stderr (a terminal's, not quiet).
FloorOptions floor_options(const QualifyOptions& o, const QualifyHooks& hooks, const References& refs, bool show_progress) {
  FloorOptions fo;
  fo.swapio = "/proc/self/exe";  // this very binary, even if replaced on disk meanwhile
  fo.plain_fio = refs.plain_fio;
  fo.ceiling = refs.ceiling;
  if (o.rounds > 0) fo.rounds = o.rounds;
  fo.before_workload = hooks.before_workload;
  fo.after_workload = hooks.after_workload;
  fo.progress = [show = show_progress](const std::string& line) {
    if (show) std::fprintf(stderr, "\r\033[K%s", line.c_str());
  };
  fo.folders = o.folders;
  return fo;
}

void print_heading(FILE* out, const QualifyOptions& o, const Profile& profile, const FloorOptions& fo, bool needs_ceiling) {
  std::string where;
  for (const auto& f : fo.folders) where += (where.empty() ? "" : ", ") + f;
  std::fprintf(out, "swapio qualify: profile %s%s on %s\n", profile.name.c_str(), o.profile.empty() ? " (built-in)" : "",
              where.c_str());
  if (!profile.description.empty()) std::fprintf(out, "  %s\n", profile.description.c_str());
  if (needs_ceiling && fo.ceiling.empty()) std::fprintf(out, "  floors vs the ceiling are skipped: no --ceiling tool given\n");
  std::fflush(stdout);
}

// --json and --junit, and the JSON report to the hooks.
void write_reports(const QualifyOptions& o, const QualifyHooks& hooks, const Profile& profile,
                   const std::vector<WorkloadResult>& results, bool pass, double seconds, const std::string& fio) {
  if (!o.json.empty() || hooks.report != nullptr) {
    nlohmann::json j = qualify_json(o, profile, results, pass, seconds, fio);
    if (!o.json.empty()) write_report(o.json, j.dump(2) + "\n");
    if (hooks.report != nullptr) *hooks.report = std::move(j);
  }
  if (!o.junit.empty()) write_report(o.junit, qualify_junit(profile, results, seconds));
}

}  // namespace

void add_qualify_options(CLI::App& app, QualifyOptions& o) {
  app.add_option("--profile", o.profile,
                 "node profile (fixtures/profiles/*.json); without it a short built-in profile (write and read "
                 "256 MiB at default settings, floors: the faster plain fio engine)");
  app.add_option("--folder", o.folders,
                 "folder on the storage to qualify, repeatable (one per NVMe device); without it a temporary "
                 "folder under the current directory, removed afterwards");
  app.add_option("--json", o.json, "write the report as JSON here");
  app.add_option("--junit", o.junit, "write a JUnit XML file here (one test case per floor)");
  app.add_option("--ceiling", o.ceiling,
                 "a command that runs fio with physically contiguous buffers, for floor_vs_ceiling and floor_round_vs_ceiling");
  app.add_option("--gpus", o.gpus,
                 "all, or GPU numbers such as 0,1: each GPU workload of the profile (\"device\": \"cuda\") runs once "
                 "per GPU, one row each (NAME@cuda:K)");
  app.add_flag("--fleet", o.fleet,
               "fleet qualification, under an MPI launcher (srun, mpirun): every node qualifies its folders, each "
               "workload starts on all nodes together, and rank 0 prints one fleet report (nodes x workloads, the "
               "fleet median, outliers) and writes --json and --junit");
  app.add_option("--fleet-timeout", o.fleet_timeout,
                 "with --fleet: seconds a rank waits for the others at a workload's start before the job is ended")
      ->check(CLI::Range(1.0, 1e7));
  app.add_option("--rounds", o.rounds, "interleaved rounds instead of the profile's")->check(CLI::Range(1u, 1000u));
}

void finish_qualify_options(const CLI::App& app, const QualifyOptions& o) {
  if (app.count("--fleet-timeout") > 0 && !o.fleet) throw ConfigError("--fleet-timeout needs --fleet");
}

Profile qualify_profile(const QualifyOptions& o) {
  Profile profile = o.profile.empty() ? parse_profile(nlohmann::json::parse(kQuickProfile), "(built-in quick)")
                                      : load_profile(o.profile);
  if (!o.gpus.empty()) {
    std::string why;
    const int visible = cuda_device_count(&why);
    profile = expand_gpu_workloads(std::move(profile), parse_gpu_list(o.gpus, visible, why));
  }
  return profile;
}

int run_qualify(const QualifyOptions& o) { return run_qualify(o, QualifyHooks{}); }

int run_qualify(const QualifyOptions& o, const QualifyHooks& hooks) {
  const Screen screen(hooks.quiet);
  // First: from here an interrupt stops the programs started (also `fio --version`), and the
  // folders are cleaned up on the way out.
  catch_interrupts();
  const Profile profile = qualify_profile(o);
  check_destinations(o);
  const References refs = references(o, profile);
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  FloorOptions fo = floor_options(o, hooks, refs, tty && !hooks.quiet);
  std::optional<TempFolder> temp;
  if (fo.folders.empty()) {
    temp.emplace();
    fo.folders.push_back(temp->path);
  }
  check_room(space_needed(profile, fo.folders), "profile " + profile.name,
             "free space, or give a profile with smaller workloads");
  print_heading(screen.file, o, profile, fo, refs.needs_ceiling);

  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<WorkloadResult> results = run_floors(profile, fo);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (tty && !hooks.quiet) std::fprintf(stderr, "\r\033[K");

  const bool pass = print_qualify_results(screen.file, results, seconds);
  write_reports(o, hooks, profile, results, pass, seconds, refs.fio);
  std::fflush(screen.file);
  throw_if_interrupted();  // after the reports: exit 128 + the signal
  return pass ? 0 : 1;
}

}  // namespace swapio::cli
