#include "qualify.hpp"

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

#include "facts.hpp"
#include "bench_options.hpp"
#include "floors.hpp"
#include "report_text.hpp"
#include "subprocess.hpp"
#include "swapio/device.hpp"
#include "fleet.hpp"
#include "swapio/error.hpp"

namespace swapio::cli {

const char* const kQuickProfile = R"({
  "name": "quick",
  "description": "A short check of the default settings (1 MiB blocks, queue depth 32, one process): swapio must at least match the faster of plain fio's engines on the same folder.",
  "rounds": 3,
  "workloads": [
    { "name": "write-default", "op": "write", "size": "256M", "floor_vs_fio": 1.0 },
    { "name": "read-default", "op": "read", "size": "256M", "floor_vs_fio": 1.0 }
  ]
})";

namespace {


std::string rule_of(const FloorCheck& c) {
  if (c.kind == "absolute") return "absolute";
  if (c.kind == "round vs ceiling") return fmt("%.2fx ", c.factor) + "ceiling, every round";
  return fmt("%.2fx ", c.factor) + (c.kind == "vs fio" ? "plain fio" : "ceiling");
}

std::string junit_xml(const Profile& p, const std::vector<WorkloadResult>& results, double seconds) {
  std::size_t tests = 0, failures = 0, skipped = 0, errors = 0;
  std::string cases;
  for (const WorkloadResult& r : results) {
    for (const FloorCheck& c : r.checks) {
      ++tests;
      cases += "    <testcase classname=\"swapio.qualify." + xml_escape(p.name) + "\" name=\"" +
               xml_escape(r.workload.name + " " + rule_of(c)) + "\">\n";
      if (!c.error.empty()) {
        ++errors;
        cases += "      <error message=\"" + xml_escape(c.error) + "\"/>\n";
      } else if (c.skipped) {
        ++skipped;
        cases += "      <skipped message=\"reference not measured\"/>\n";
      } else if (!c.pass) {
        ++failures;
        cases += "      <failure message=\"" +
                 xml_escape(fmt("%.2f GiB/s", c.measured) +
                            (c.round > 0 ? " in round " + std::to_string(c.round) + " (against " + c.reference + ")" : std::string()) +
                            " is below the floor of " + fmt("%.2f GiB/s", c.floor)) +
                 "\"/>\n";
      }
      cases += "      <system-out>" + xml_escape(fmt("measured %.3f GiB/s", c.measured) + fmt(", floor %.3f GiB/s", c.floor)) +
               "</system-out>\n    </testcase>\n";
    }
  }
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"swapio qualify " +
         xml_escape(p.name) + "\" tests=\"" + std::to_string(tests) + "\" failures=\"" + std::to_string(failures) +
         "\" skipped=\"" + std::to_string(skipped) + "\" errors=\"" + std::to_string(errors) + "\" time=\"" + fmt("%.3f", seconds) + "\">\n" + cases +
         "  </testsuite>\n</testsuites>\n";
}

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
  // Quiet (a fleet's rank): the report goes to the hooks, nothing to stdout.
  FILE* const out = hooks.quiet ? std::fopen("/dev/null", "w") : stdout;
  if (out == nullptr) throw_io_error(errno, "open", "/dev/null");
  struct CloseOut {
    FILE* f;
    ~CloseOut() {
      if (f != stdout) std::fclose(f);
    }
  } close_out{out};
  // First: from here an interrupt stops the programs started (also `fio --version`), and the
  // folders are cleaned up on the way out.
  catch_interrupts();
  const Profile profile = qualify_profile(o);
  for (const std::string& f : o.folders) {
    check_writable_folder("--folder", f);
  }
  FloorOptions fo;
  fo.swapio = "/proc/self/exe";  // this very binary, even if replaced on disk meanwhile
  if (!o.json.empty()) check_writable_file_folder("--json " + o.json, o.json);
  if (!o.junit.empty()) check_writable_file_folder("--junit " + o.junit, o.junit);

  fo.plain_fio = false;
  bool needs_ceiling = false;
  for (const Workload& w : profile.workloads) {
    fo.plain_fio = fo.plain_fio || w.floor_vs_fio.has_value();
    needs_ceiling = needs_ceiling || w.floor_vs_ceiling.has_value() || w.floor_round_vs_ceiling.has_value();
  }
  for (const Workload& w : profile.workloads) {
    if (w.device.empty() || w.device == "emulated") continue;
    std::string why;
    if (cuda_device_count(&why) == 0) {
      throw ConfigError("workload " + w.name + " needs GPU " + w.device + ", but " + why);
    }
  }
  const std::string fio = fo.plain_fio || !o.ceiling.empty() ? fio_version() : "";
  if (fo.plain_fio && fio.empty()) {
    throw ConfigError("fio is not installed, and profile " + profile.name +
                      " compares with it (floor_vs_fio): install fio, or give a profile with absolute floors");
  }
  if (!o.ceiling.empty()) {
    std::stringstream words(o.ceiling);
    for (std::string w; words >> w;) fo.ceiling.push_back(w);
  }
  if (o.rounds > 0) fo.rounds = o.rounds;
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  fo.before_workload = hooks.before_workload;
  fo.after_workload = hooks.after_workload;
  fo.progress = [show = tty && !hooks.quiet](const std::string& line) {
    if (show) std::fprintf(stderr, "\r\033[K%s", line.c_str());
  };

  std::optional<TempFolder> temp;
  fo.folders = o.folders;
  if (fo.folders.empty()) {
    temp.emplace();
    fo.folders.push_back(temp->path);
  }
  check_room(space_needed(profile, fo.folders), "profile " + profile.name,
             "free space, or give a profile with smaller workloads");
  std::string where;
  for (const auto& f : fo.folders) where += (where.empty() ? "" : ", ") + f;
  std::fprintf(out, "swapio qualify: profile %s%s on %s\n", profile.name.c_str(), o.profile.empty() ? " (built-in)" : "",
              where.c_str());
  if (!profile.description.empty()) std::fprintf(out, "  %s\n", profile.description.c_str());
  if (needs_ceiling && fo.ceiling.empty()) std::fprintf(out, "  floors vs the ceiling are skipped: no --ceiling tool given\n");
  std::fflush(stdout);

  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<WorkloadResult> results = run_floors(profile, fo);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (tty && !hooks.quiet) std::fprintf(stderr, "\r\033[K");

  std::fprintf(out, "\n%-20s %-5s %-8s %-7s %10s %10s  %-36s %s\n", "workload", "op", "I/O", "memory", "GiB/s", "floor", "rule",
              "result");
  std::size_t checks = 0, failed = 0, skipped = 0;
  std::size_t errors = 0;
  for (const WorkloadResult& r : results) {
    for (const FloorCheck& c : r.checks) {
      ++checks;
      const char* verdict = !c.error.empty() ? "ERROR" : c.skipped ? "SKIP" : c.pass ? "PASS" : "FAIL";
      if (!c.error.empty()) ++errors;
      if (c.error.empty() && !c.skipped && !c.pass) ++failed;
      if (c.error.empty() && c.skipped) ++skipped;
      std::string rule = rule_of(c);
      if (c.kind == "vs fio" && r.fio_best) rule += fmt(" (%.2f)", *r.fio_best);
      if (c.kind == "vs ceiling" && r.ceiling_best) rule += fmt(" (%.2f)", *r.ceiling_best);
      if (c.kind == "round vs ceiling" && c.round > 0) rule += " (worst " + std::to_string(c.round) + ")";
      const char* io = !r.direct ? "-" : *r.direct ? "direct" : "buffered";
      // The least contiguous I/O memory swapio's processes had (fraction in >= 2 MiB pieces).
      const std::string memory = r.contiguous_2m ? fmt("%.0f%%", *r.contiguous_2m * 100) : "-";
      // A workload that failed before swapio's first round has no figure: "-", not 0.00.
      const std::string measured = r.programs.empty() || r.programs.front().second.gib_per_s.empty() ? "-" : fmt("%.2f", c.measured);
      std::fprintf(out, "%-20s %-5s %-8s %-7s %10s %10s  %-36s %s\n", r.workload.name.c_str(), r.workload.write ? "write" : "read",
                  io, memory.c_str(), measured.c_str(), c.skipped || !c.error.empty() ? "-" : fmt("%.2f", c.floor).c_str(),
                  rule.c_str(), verdict);
    }
  }
  std::fprintf(out, "(memory: how much of swapio's I/O memory was physically contiguous in >= 2 MiB pieces, the least of its "
              "processes and rounds; - where not measured)\n");
  for (const WorkloadResult& r : results) {
    if (!r.error.empty()) std::fprintf(out, "%s: %s\n", r.workload.name.c_str(), r.error.c_str());
    if (r.direct && !*r.direct) {
      std::fprintf(out, "%s: buffered I/O for every program (%s)\n", r.workload.name.c_str(), r.direct_note.c_str());
    }
    for (const std::string& w : r.memory_warnings) std::fprintf(out, "%s: warning: swapio %s\n", r.workload.name.c_str(), w.c_str());
  }
  const bool pass = failed == 0 && errors == 0 && checks > skipped;
  const std::size_t checked = checks - skipped - errors;
  const std::string skip_note = skipped > 0 ? ", " + std::to_string(skipped) + " skipped without a reference" : "";
  const std::string error_note =
      errors > 0 ? ", " + std::to_string(errors) + " not checked: the workload failed or was interrupted" : "";
  std::fprintf(out, "\nverdict: %s (%zu of %zu floors met%s%s, %.0f s)\n", pass ? "PASS" : "FAIL", checked - failed, checked,
              skip_note.c_str(), error_note.c_str(), seconds);

  if (!o.json.empty() || hooks.report != nullptr) {
    nlohmann::json j = results_to_json(profile, results);
    j["node"] = fleet_node_name();
    j["fleet_rule"] = {{"outlier_fraction", profile.outlier_fraction}, {"outlier_mads", profile.outlier_mads}};
    j["verdict"] = pass ? "PASS" : "FAIL";
    j["interrupted"] = interrupt_signal() != 0;
    j["folders"] = o.folders;
    j["seconds"] = seconds;
    j["facts"] = run_facts(o.folders.empty() ? std::vector<std::string>{"."} : o.folders);
    j["facts"]["fio"] = fio.empty() ? nlohmann::json(nullptr) : nlohmann::json(fio);
    j["schema_version"] = kReportSchemaVersion;
    if (!o.json.empty()) write_report(o.json, j.dump(2) + "\n");
    if (hooks.report != nullptr) *hooks.report = std::move(j);
  }
  if (!o.junit.empty()) write_report(o.junit, junit_xml(profile, results, seconds));
  std::fflush(out);
  throw_if_interrupted();  // after the reports: exit 128 + the signal
  return pass ? 0 : 1;
}

}  // namespace swapio::cli
