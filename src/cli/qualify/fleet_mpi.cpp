// `swapio qualify --fleet`: fleet qualification under any MPI launcher (srun, mpirun, an MPI
// job). One rank per node measures (ranks are grouped by node name; the others of a node take
// part in the synchronisation only), every workload starts on every node together behind a sync
// point, and rank 0 gathers the nodes' reports into the fleet report (fleet.hpp).
//
// The sync points carry each rank's status, so a rank that fails reports it before the next
// point instead of leaving the others waiting: a rank that cannot start (bad input) ends the
// whole job with exit status 2 at the first point, rank 0 naming it; a rank that fails during
// the run is named in the report and the others go on. Every wait on the others has a time
// limit (--fleet-timeout); past it, rank 0 writes the report of what it has and the job is
// aborted (fleet_mpi_sync.hpp). After each workload rank 0 rewrites --json and --junit with the
// results so far (complete: false), so that a rank that dies (which ends the job, as MPI does)
// leaves both; when the run ends early rank 0 names the ranks that did not come
// (fleet_progress.hpp).
#include <algorithm>
#include <cstdio>

#include "bench/bench_options.hpp"
#include "common/report_text.hpp"
#include "common/subprocess.hpp"
#include "qualify/fleet.hpp"
#include "qualify/fleet_report_checks.hpp"
#include "qualify/floors.hpp"
#include "qualify/profile.hpp"
#include "qualify/qualify.hpp"
#include "swapio/error.hpp"

#ifdef SWAPIO_HAVE_MPI
#include "qualify/fleet_mpi_sync.hpp"
#endif

namespace swapio::cli {

#ifndef SWAPIO_HAVE_MPI

int run_qualify_fleet(const QualifyOptions&) {
  throw ConfigError("--fleet: this build has no MPI (libopenmpi-dev was not found when it was built); qualify each "
                    "node with swapio qualify --json FILE and merge the files with swapio fleet-report");
}

#else

namespace {

// The job ends with this exit status (every rank's: a rank could not start).
struct FleetAbort {
  int status;
};

// What this rank says at the first sync point: who it is, whether it can start (code 2 and the
// error where not), and the profile it runs, which the fleet's progress is told of too.
nlohmann::json first_status(const QualifyOptions& options, int rank, const std::string& node, bool measuring,
                            FleetSync& fleet) {
  nlohmann::json status = {{"node", node}, {"rank", rank}, {"measuring", measuring}, {"code", 0}, {"error", ""},
                           {"result", nullptr}};
  std::size_t workloads = 0;
  std::string profile_name;
  std::vector<std::string> workload_names;
  FleetRule rule;
  try {
    const Profile p = qualify_profile(options);
    workloads = p.workloads.size();
    profile_name = p.name;
    for (const Workload& w : p.workloads) workload_names.push_back(w.name);
    rule = {p.outlier_fraction, p.outlier_mads};
    status["like"] = like_fields(p, std::max<std::size_t>(1, options.folders.size()));
    if (rank == 0) {
      if (!options.json.empty()) check_writable_file_folder("--json " + options.json, options.json);
      if (!options.junit.empty()) check_writable_file_folder("--junit " + options.junit, options.junit);
    }
  } catch (const ConfigError& e) {
    status["code"] = 2;
    status["error"] = e.what();
  }
  status["profile"] = profile_name;
  status["workloads"] = workloads;
  fleet.set_profile(workload_names, profile_name, rule);
  return status;
}

// Why a rank cannot run beside rank 0 (its status at the start against rank 0's), "" when it
// can: it could not start, or it runs another profile or the same one with other settings.
std::string refusal(const nlohmann::json& a, const nlohmann::json& first) {
  if (a.value("code", 0) == 2) return ": " + a.value("error", "");
  if (a.value("profile", "") != first.value("profile", "") || a.value("workloads", 0) != first.value("workloads", 0)) {
    return " runs profile " + a.value("profile", "") + ", rank 0 " + first.value("profile", "") +
           ": a fleet compares like with like";
  }
  const nlohmann::json none;
  if (first.value("code", 0) == 0 && a.value("like", none) != first.value("like", none)) {
    return " and rank 0 differ in " + first_difference(a.value("like", none), first.value("like", none)) +
           ": a fleet compares like with like";
  }
  return "";
}

// At the start: every rank can start and runs what rank 0 runs; else the job ends with exit
// status 2 (FleetAbort), rank 0 naming the ranks.
void check_start(const std::vector<nlohmann::json>& all, int rank) {
  std::string bad;
  int code = 0;
  for (const nlohmann::json& a : all) {
    const std::string why = refusal(a, all.front());
    if (why.empty()) continue;
    bad += (bad.empty() ? "" : "; ") + a.value("node", "?") + " (rank " + std::to_string(a.value("rank", -1)) + ")" + why;
    code = 2;
  }
  if (code != 0) {
    if (rank == 0) std::fprintf(stderr, "swapio qualify --fleet: %s\n", bad.c_str());
    throw FleetAbort{code};
  }
}

// Point 0 checks that every rank can start and runs the same profile; points 1..W-1 start
// workloads 1..W-1; point W ends the last. Each carries the workload that just ended.
void sync(FleetSync& fleet, nlohmann::json& status, const std::string& what, int rank) {
  const std::vector<nlohmann::json> all = fleet.point(status, what);
  status["result"] = nullptr;
  if (fleet.points() == 1) check_start(all, rank);
}

// The node's own run: quiet, its report kept (returned; null where it has none), no files of
// its own. How it ended goes into status; FleetAbort passes through.
nlohmann::json run_node(const QualifyOptions& options, FleetSync& fleet, nlohmann::json& status, int rank) {
  QualifyOptions o = options;
  o.json.clear();
  o.junit.clear();
  nlohmann::json report;
  QualifyHooks hooks;
  hooks.quiet = true;
  hooks.report = &report;
  hooks.before_workload = [&](std::size_t k) { sync(fleet, status, "workload " + std::to_string(k + 1), rank); };
  hooks.after_workload = [&](std::size_t, const WorkloadResult& r) { status["result"] = workload_to_json(r); };
  try {
    (void)run_qualify(o, hooks);  // the node's own verdict is in its report; the fleet's decides
  } catch (const ConfigError& e) {
    status["code"] = fleet.points() == 0 ? 2 : 1;
    status["error"] = e.what();
  } catch (const std::exception& e) {
    status["code"] = 1;
    status["error"] = e.what();
  }
  return report;
}

// Rank 0: the nodes of the fleet report from every rank's final word; the ranks that only
// shared a node are listed in idle instead.
std::vector<FleetNode> fleet_nodes(const std::vector<std::string>& all, std::string& idle) {
  std::vector<FleetNode> nodes;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const nlohmann::json a = nlohmann::json::parse(all[i]);
    if (!a.value("measuring", false)) {
      idle += (idle.empty() ? "" : ", ") + std::to_string(i) + " (" + a.value("node", "") + ")";
      continue;
    }
    FleetNode n;
    n.node = a.value("node", "");
    n.origin = "rank " + std::to_string(i);
    n.report = a["report"];
    n.error = a.value("error", "");
    if (n.error.empty() && n.report.is_null()) n.error = "no report";
    nodes.push_back(std::move(n));
  }
  return nodes;
}

// Rank 0: the fleet report, printed and written (complete). Returns the job's exit status.
int report_fleet(const QualifyOptions& options, const std::vector<std::string>& all, int ranks) {
  std::string idle;
  const FleetReport r = fleet_report(fleet_nodes(all, idle));
  std::fputs(r.text.c_str(), stdout);
  if (!idle.empty()) std::printf("(ranks %s shared a node with a lower rank, which measured it)\n", idle.c_str());
  std::fflush(stdout);
  if (!options.json.empty()) {
    nlohmann::json j = r.json;
    j["complete"] = true;
    j["ranks"] = ranks;
    write_report(options.json, j.dump(2) + "\n");
  }
  if (!options.junit.empty()) write_report(options.junit, r.junit);
  return r.pass ? 0 : 1;
}

}  // namespace

int run_qualify_fleet(const QualifyOptions& options) {
  catch_interrupts();
  Mpi mpi;
  FleetSync fleet(mpi, options);
  const int rank = mpi.rank();
  const std::string node = fleet_node_name();
  fleet.set_ranks(fleet.collect(node, "the start", true));
  const bool measuring = fleet.measures(rank);
  nlohmann::json status = first_status(options, rank, node, measuring, fleet);
  const std::size_t workloads = status["workloads"];

  nlohmann::json report;
  try {
    if (status["code"] == 0 && measuring) report = run_node(options, fleet, status, rank);
    // The points this rank has not made yet (it idles, or stopped early), with its status.
    while (fleet.points() < workloads + 1 || fleet.points() == 0) {
      sync(fleet, status, fleet.points() == 0 ? "the start" : "the end", rank);
    }
  } catch (const FleetAbort& a) {
    return a.status;
  }

  fleet.drain_sends();
  const nlohmann::json mine = {{"node", node}, {"rank", rank}, {"measuring", measuring}, {"code", status["code"]},
                               {"error", status["error"]}, {"report", report}};
  const std::vector<std::string> all = fleet.collect(mine.dump(), "the report", false);
  const int exit_status = rank == 0 ? report_fleet(options, all, mpi.size()) : 0;
  return fleet.broadcast(exit_status, "the verdict");
}

#endif

}  // namespace swapio::cli
