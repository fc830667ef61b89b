// Rank 0's record of a fleet run as it goes (qualify --fleet): which rank measures which node,
// the workloads' results as they come in, and which ranks failed or never came. From it, the
// fleet report of what was measured so far, at any moment: rewritten after every workload, and
// written once more when the run ends early (a timeout, an interrupt, a rank that died), so that
// --json and --junit exist on every exit path. No MPI here: fleet_mpi.cpp feeds it.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "qualify/fleet.hpp"

namespace swapio::cli {

class FleetProgress {
 public:
  // The ranks' node names, in rank order: the lowest rank of each node measures it.
  void set_ranks(const std::vector<std::string>& names);
  bool measures(int rank) const { return leaders_.at(rank); }
  std::size_t ranks() const { return nodes_.size(); }
  // "rank 2 (node-c)".
  std::string who(int rank) const;

  void set_profile(std::vector<std::string> workloads, std::string profile, FleetRule rule);

  // The result a rank sent at a sync point (null: it ran no workload since the last one).
  void add_result(int rank, nlohmann::json result);
  // How many results (one per sync point) have come from the rank.
  std::size_t arrived(int rank) const;
  // The ranks from which fewer than `points` results have come.
  std::vector<int> missing(std::size_t points) const;
  // The rank's node failed as a whole (its run did not start, it stalled, it died).
  void fail(int rank, const std::string& why);

  // The fleet report of the results so far; nodes with workloads still to come are INCOMPLETE.
  FleetReport report() const;
  // Writes the report so far to json and junit (either may be ""), "complete": false, and
  // gives its screen in text (when not null). Returns false, with why, when it could not (a full
  // disk); a partial report must not end the run. Nothing before the ranks and the profile are
  // known.
  bool write(const std::string& json, const std::string& junit, std::string* why, std::string* text = nullptr) const;

 private:
  std::vector<std::string> nodes_;  // per rank
  std::vector<bool> leaders_;       // per rank: it measures its node
  std::vector<std::string> workloads_;
  std::string profile_;
  FleetRule rule_;
  std::map<int, std::size_t> arrived_;
  std::map<int, nlohmann::json> results_;  // rank -> its workloads' results so far
  std::map<int, std::string> errors_;
};

}  // namespace swapio::cli
