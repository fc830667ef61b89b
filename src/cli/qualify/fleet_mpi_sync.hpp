// The sync points of a fleet run (fleet_mpi.cpp; built only with MPI): every rank's status to
// every rank, the workload that just ended to rank 0 first, rank 0's partial report rewritten at
// each; and the run ended early, with the report of what was measured, where a rank does not
// come within --fleet-timeout or the job is interrupted.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "qualify/fleet.hpp"
#include "qualify/fleet_mpi_channel.hpp"
#include "qualify/fleet_progress.hpp"
#include "qualify/qualify.hpp"

namespace swapio::cli {

class FleetSync {
 public:
  // Rank 0 holds the others to --fleet-timeout; they give it a grace period beyond that (10%,
  // at least 10 s), so that rank 0 is the one that says what happened and writes the report,
  // unless rank 0 itself is what does not come.
  FleetSync(const Mpi& mpi, const QualifyOptions& o);

  // As MpiChannel's, the run ended (timed_out) where the others do not come; what: the point
  // waited for, for the message ("the start").
  std::vector<std::string> collect(const std::string& mine, const std::string& what, bool to_all);
  int broadcast(int value, const std::string& what);

  // A sync point. The workload that just ended (status["result"]) goes to rank 0 point to point
  // first, so that rank 0 has it even when another rank never comes; then every rank's status
  // (small) to every rank. Rank 0 rewrites the partial report.
  std::vector<nlohmann::json> point(const nlohmann::json& status, const std::string& what);
  std::size_t points() const { return points_; }

  // The ranks' node names, from the start: the lowest rank of each node measures it.
  void set_ranks(const std::vector<std::string>& names) { progress_.set_ranks(names); }
  bool measures(int rank) const { return progress_.measures(rank); }
  void set_profile(std::vector<std::string> names, const std::string& profile, FleetRule rule) {
    progress_.set_profile(std::move(names), profile, rule);
  }

  // Before the final gather: the results sent are all delivered (rank 0 took them in).
  void drain_sends();

  // The run ends early: rank 0 names the ranks that did not come, prints and writes what was
  // measured, and the job is ended.
  [[noreturn]] void timed_out(const std::string& what);

 private:
  void send_result(const nlohmann::json& result);
  // Rank 0: the results that have arrived, of any point.
  void receive_results();
  // Rank 0: every rank's result of the point just made, up to the limit.
  void await_results(const std::string& what);
  // Rank 0: the fleet report of the results so far, to --json and --junit (complete: false),
  // and its screen to text where given.
  void write_partial(std::string* text = nullptr);

  static constexpr int kResultTag = 1000;
  const Mpi& mpi_;
  const QualifyOptions& o_;
  double limit_;
  MpiChannel channel_;
  std::size_t points_ = 0;
  std::size_t awaiting_ = 0;  // in a sync point: the results expected from every rank by its end
  FleetProgress progress_;    // rank 0: who is who, the results so far
};

}  // namespace swapio::cli
