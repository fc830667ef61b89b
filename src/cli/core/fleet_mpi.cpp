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
// aborted. After each workload rank 0 rewrites --json and --junit with the results so far
// (complete: false), so that a rank that dies (which ends the job, as MPI does) leaves both;
// when the run ends early rank 0 names the ranks that did not come (fleet_progress.hpp).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <thread>

#include "bench_options.hpp"
#include "fleet.hpp"
#include "fleet_progress.hpp"
#include "fleet_report_checks.hpp"
#include "floors.hpp"
#include "profile.hpp"
#include "qualify.hpp"
#include "report_text.hpp"
#include "subprocess.hpp"
#include "swapio/error.hpp"

#ifdef SWAPIO_HAVE_MPI
#include <mpi.h>
#endif

namespace swapio::cli {

#ifndef SWAPIO_HAVE_MPI

int run_qualify_fleet(const QualifyOptions&) {
  throw ConfigError("--fleet: this build has no MPI (libopenmpi-dev was not found when it was built); qualify each "
                    "node with swapio qualify --json FILE and merge the files with swapio fleet-report");
}

#else

namespace {

using Clock = std::chrono::steady_clock;

struct FleetAbort {
  int status;
};

class Mpi {
 public:
  Mpi() {
    int ready = 0;
    MPI_Initialized(&ready);
    if (ready == 0 && MPI_Init(nullptr, nullptr) != MPI_SUCCESS) {
      throw ConfigError("--fleet: MPI could not start (run under an MPI launcher: mpirun, srun)");
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~Mpi() {
    int done = 0;
    MPI_Finalized(&done);
    if (done == 0) MPI_Finalize();
  }
  Mpi(const Mpi&) = delete;
  Mpi& operator=(const Mpi&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  int rank_ = 0, size_ = 1;
};

class Fleet {
 public:
  // Rank 0 holds the others to --fleet-timeout; they give it a grace period beyond that (10%,
  // at least 10 s), so that rank 0 is the one that says what happened and writes the report,
  // unless rank 0 itself is what does not come.
  Fleet(Mpi& mpi, const QualifyOptions& o)
      : mpi_(mpi), o_(o), limit_(mpi.rank() == 0 ? o.fleet_timeout : o.fleet_timeout + std::max(10.0, 0.1 * o.fleet_timeout)) {}

  // Waits for a non-blocking collective, up to the limit; an interrupt ends the wait too. Rank 0
  // takes in the results that arrive meanwhile.
  bool finish(MPI_Request& request) {
    const auto end = Clock::now() + std::chrono::duration<double>(limit_);
    for (auto pause = std::chrono::microseconds(50);; pause = std::min(pause * 2, std::chrono::microseconds(20000))) {
      int done = 0;
      MPI_Test(&request, &done, MPI_STATUS_IGNORE);
      if (mpi_.rank() == 0) receive_results();
      if (done != 0) return true;
      if (Clock::now() > end || interrupt_signal() != 0) return false;
      std::this_thread::sleep_for(pause);
    }
  }

  // Every rank's string to every rank (to_all) or to rank 0 only (the others get nothing);
  // throws on timeout.
  std::vector<std::string> collect(const std::string& mine, const std::string& what, bool to_all) {
    const int n = mpi_.size();
    int len = static_cast<int>(mine.size());
    std::vector<int> lens(n);
    MPI_Request r;
    if (to_all) MPI_Iallgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, MPI_COMM_WORLD, &r);
    else MPI_Igather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD, &r);
    if (!finish(r)) timed_out(what);
    const bool receives = to_all || mpi_.rank() == 0;
    std::vector<int> displs(n, 0);
    std::string all;
    if (receives) {
      for (int i = 1; i < n; ++i) displs[i] = displs[i - 1] + lens[i - 1];
      all.resize(static_cast<std::size_t>(displs[n - 1] + lens[n - 1]));
    }
    if (to_all) {
      MPI_Iallgatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, MPI_COMM_WORLD, &r);
    } else {
      MPI_Igatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, 0, MPI_COMM_WORLD, &r);
    }
    if (!finish(r)) timed_out(what);
    std::vector<std::string> out;
    if (receives) {
      for (int i = 0; i < n; ++i) out.push_back(all.substr(static_cast<std::size_t>(displs[i]), static_cast<std::size_t>(lens[i])));
    }
    return out;
  }

  int broadcast(int value, const std::string& what) {
    MPI_Request r;
    MPI_Ibcast(&value, 1, MPI_INT, 0, MPI_COMM_WORLD, &r);
    if (!finish(r)) timed_out(what);
    return value;
  }

  // A sync point. The workload that just ended (status["result"]) goes to rank 0 point to point
  // first, so that rank 0 has it even when another rank never comes; then every rank's status
  // (small) to every rank. Rank 0 rewrites the partial report.
  std::vector<nlohmann::json> point(const nlohmann::json& status, const std::string& what) {
    awaiting_ = points_ + 1;
    send_result(status.value("result", nlohmann::json()));
    nlohmann::json small = status;
    small.erase("result");
    std::vector<nlohmann::json> all;
    for (const std::string& text : collect(small.dump(), what, true)) all.push_back(nlohmann::json::parse(text));
    ++points_;
    if (mpi_.rank() == 0) {
      // Every rank sent this point's result before the collective: take in the ones still on the way.
      const auto end = Clock::now() + std::chrono::duration<double>(limit_);
      for (int i = 1; i < mpi_.size(); ++i) {
        while (progress_.arrived(i) < points_) {
          receive_results();
          if (progress_.arrived(i) >= points_) break;
          if (Clock::now() > end) timed_out("the results of " + what);
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
      }
      for (std::size_t i = 0; i < all.size(); ++i) {
        if (all[i].value("code", 0) != 0) progress_.fail(static_cast<int>(i), all[i].value("error", ""));
      }
      write_partial();
    }
    awaiting_ = 0;
    return all;
  }

  // The ranks' node names, from the start: the lowest rank of each node measures it.
  void set_ranks(const std::vector<std::string>& names) { progress_.set_ranks(names); }
  bool measures(int rank) const { return progress_.measures(rank); }

  // Before the final gather: the results sent are all delivered (rank 0 took them in).
  void drain_sends() {
    for (MPI_Request& r : send_requests_) {
      if (!finish(r)) timed_out("the delivery of the results");
    }
    send_requests_.clear();
  }

  std::size_t points() const { return points_; }
  void set_profile(std::vector<std::string> names, const std::string& profile, FleetRule rule) {
    progress_.set_profile(std::move(names), profile, rule);
  }

  // The run ends early: rank 0 names the ranks that did not come, prints and writes what was
  // measured, and the job is ended.
  [[noreturn]] void timed_out(const std::string& what) {
    const int sig = interrupt_signal();
    if (mpi_.rank() == 0) {
      const std::string limit = " within --fleet-timeout " + fmt("%g", o_.fleet_timeout) + " s";
      std::string late;
      for (int r : awaiting_ > 0 ? progress_.missing(awaiting_) : std::vector<int>{}) {
        late += (late.empty() ? "" : ", ") + progress_.who(r);
        progress_.fail(r, sig != 0 ? progress_.who(r) + " had not reached " + what + " when the job was interrupted"
                                   : progress_.who(r) + " did not reach " + what + limit);
      }
      const std::string why = sig != 0 ? std::string("interrupted by ") + strsignal(sig) +
                                             (late.empty() ? "" : " while waiting for " + late + " at " + what)
                                       : (late.empty() ? std::string("a rank") : late) + " did not reach " + what + limit;
      std::string text;
      write_partial(&text);
      std::fputs(text.c_str(), stdout);
      std::fprintf(stderr, "swapio qualify --fleet: %s; the reports have what was measured; ending the job\n", why.c_str());
    }
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, sig != 0 ? 128 + sig : 1);
    std::_Exit(1);
  }

  void send_result(const nlohmann::json& result) {
    if (mpi_.rank() == 0) {
      progress_.add_result(0, result);
      return;
    }
    sends_.push_back(result.dump());
    MPI_Request r;
    MPI_Isend(sends_.back().data(), static_cast<int>(sends_.back().size()), MPI_CHAR, 0, kResultTag + static_cast<int>(points_),
              MPI_COMM_WORLD, &r);
    send_requests_.push_back(r);
  }

  // Rank 0: the results that have arrived, of any point.
  void receive_results() {
    for (;;) {
      int flag = 0;
      MPI_Status st;
      MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
      if (flag == 0) return;
      int count = 0;
      MPI_Get_count(&st, MPI_CHAR, &count);
      std::string text(static_cast<std::size_t>(count), '\0');
      MPI_Recv(text.data(), count, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      nlohmann::json result = nlohmann::json::parse(text, nullptr, false);
      progress_.add_result(st.MPI_SOURCE, result.is_discarded() ? nlohmann::json() : std::move(result));
    }
  }

  // Rank 0: the fleet report of the results so far, to --json and --junit (complete: false),
  // and its screen to text where given.
  void write_partial(std::string* text = nullptr) {
    std::string why;
    if (!progress_.write(o_.json, o_.junit, &why, text)) {
      std::fprintf(stderr, "swapio qualify --fleet: the report so far could not be written: %s\n", why.c_str());
    }
  }

 private:
  Mpi& mpi_;
  const QualifyOptions& o_;
  double limit_;
  std::size_t points_ = 0;
  std::size_t awaiting_ = 0;  // in a sync point: the results expected from every rank by its end
  static constexpr int kResultTag = 1000;
  std::deque<std::string> sends_;  // what this rank's pending sends read
  std::vector<MPI_Request> send_requests_;
  FleetProgress progress_;  // rank 0: who is who, the results so far
};

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

}  // namespace

int run_qualify_fleet(const QualifyOptions& options) {
  catch_interrupts();
  Mpi mpi;
  Fleet fleet(mpi, options);
  const int rank = mpi.rank();
  const std::string node = fleet_node_name();
  fleet.set_ranks(fleet.collect(node, "the start", true));
  const bool measuring = fleet.measures(rank);

  // The node's own run: quiet, its report kept, no files of its own.
  QualifyOptions o = options;
  o.json.clear();
  o.junit.clear();
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

  // Point 0 checks that every rank can start and runs the same profile; points 1..W-1 start
  // workloads 1..W-1; point W ends the last. Each carries the workload that just ended.
  const auto sync = [&](const std::string& what) {
    const std::vector<nlohmann::json> all = fleet.point(status, what);
    status["result"] = nullptr;
    if (fleet.points() != 1) return;
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
  };

  nlohmann::json report;
  if (status["code"] == 0 && measuring) {
    QualifyHooks hooks;
    hooks.quiet = true;
    hooks.report = &report;
    hooks.before_workload = [&](std::size_t k) { sync("workload " + std::to_string(k + 1)); };
    hooks.after_workload = [&](std::size_t, const WorkloadResult& r) { status["result"] = workload_to_json(r); };
    try {
      (void)run_qualify(o, hooks);  // the node's own verdict is in its report; the fleet's decides
    } catch (const FleetAbort& a) {
      return a.status;
    } catch (const ConfigError& e) {
      status["code"] = fleet.points() == 0 ? 2 : 1;
      status["error"] = e.what();
    } catch (const std::exception& e) {
      status["code"] = 1;
      status["error"] = e.what();
    }
  }
  // The points this rank has not made yet (it idles, or stopped early), with its status.
  try {
    while (fleet.points() < workloads + 1 || fleet.points() == 0) sync(fleet.points() == 0 ? "the start" : "the end");
  } catch (const FleetAbort& a) {
    return a.status;
  }

  fleet.drain_sends();
  nlohmann::json mine = {{"node", node}, {"rank", rank}, {"measuring", measuring}, {"code", status["code"]},
                         {"error", status["error"]}, {"report", report}};
  const std::vector<std::string> all = fleet.collect(mine.dump(), "the report", false);
  int exit_status = 0;
  if (rank == 0) {
    std::vector<FleetNode> nodes;
    std::string idle;
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
    const FleetReport r = fleet_report(nodes);
    std::fputs(r.text.c_str(), stdout);
    if (!idle.empty()) std::printf("(ranks %s shared a node with a lower rank, which measured it)\n", idle.c_str());
    std::fflush(stdout);
    if (!options.json.empty()) {
      nlohmann::json j = r.json;
      j["complete"] = true;
      j["ranks"] = mpi.size();
      write_report(options.json, j.dump(2) + "\n");
    }
    if (!options.junit.empty()) write_report(options.junit, r.junit);
    exit_status = r.pass ? 0 : 1;
  }
  return fleet.broadcast(exit_status, "the verdict");
}

#endif

}  // namespace swapio::cli
