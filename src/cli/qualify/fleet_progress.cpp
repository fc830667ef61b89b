#include "qualify/fleet_progress.hpp"

#include <algorithm>

#include "common/report_text.hpp"

namespace swapio::cli {

void FleetProgress::set_ranks(const std::vector<std::string>& names) {
  nodes_ = names;
  leaders_.assign(names.size(), false);
  for (std::size_t i = 0; i < names.size(); ++i) {
    leaders_[i] = std::find(names.begin(), names.end(), names[i]) - names.begin() == static_cast<std::ptrdiff_t>(i);
  }
}

std::string FleetProgress::who(int rank) const {
  const auto i = static_cast<std::size_t>(rank);
  return "rank " + std::to_string(rank) + (i < nodes_.size() ? " (" + nodes_[i] + ")" : std::string());
}

void FleetProgress::set_profile(std::vector<std::string> workloads, std::string profile, FleetRule rule) {
  workloads_ = std::move(workloads);
  profile_ = std::move(profile);
  rule_ = rule;
}

void FleetProgress::add_result(int rank, nlohmann::json result) {
  if (!result.is_null()) {
    auto [it, fresh] = results_.emplace(rank, nlohmann::json::array());
    it->second.push_back(std::move(result));
  }
  ++arrived_[rank];
}

std::size_t FleetProgress::arrived(int rank) const {
  const auto it = arrived_.find(rank);
  return it == arrived_.end() ? 0 : it->second;
}

std::vector<int> FleetProgress::missing(std::size_t points) const {
  std::vector<int> late;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (arrived(static_cast<int>(i)) < points) late.push_back(static_cast<int>(i));
  }
  return late;
}

void FleetProgress::fail(int rank, const std::string& why) { errors_[rank] = why; }

FleetReport FleetProgress::report() const {
  std::vector<FleetNode> nodes;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!leaders_[i]) continue;
    const int rank = static_cast<int>(i);
    FleetNode n;
    n.node = nodes_[i];
    n.origin = "rank " + std::to_string(rank);
    if (const auto e = errors_.find(rank); e != errors_.end()) n.error = e->second;
    const auto r = results_.find(rank);
    nlohmann::json workloads = r != results_.end() ? r->second : nlohmann::json::array();
    for (std::size_t k = workloads.size(); k < workloads_.size(); ++k) {
      workloads.push_back({{"name", workloads_[k]}, {"error", "not run yet"}});
    }
    n.report = {{"profile", profile_},
                {"node", n.node},
                {"workloads", workloads},
                {"fleet_rule", {{"outlier_fraction", rule_.fraction}, {"outlier_mads", rule_.mads}}},
                {"partial", true}};
    nodes.push_back(std::move(n));
  }
  return fleet_report(nodes);
}

bool FleetProgress::write(const std::string& json, const std::string& junit, std::string* why, std::string* text) const {
  if ((json.empty() && junit.empty() && text == nullptr) || workloads_.empty() || nodes_.empty()) return true;
  try {
    const FleetReport r = report();
    if (text != nullptr) *text = r.text;
    if (!json.empty()) {
      nlohmann::json j = r.json;
      j["complete"] = false;
      j["ranks"] = nodes_.size();
      write_report(json, j.dump(2) + "\n");
    }
    if (!junit.empty()) write_report(junit, r.junit);
    return true;
  } catch (const std::exception& e) {
    if (why != nullptr) *why = e.what();
    return false;
  }
}

}  // namespace swapio::cli
