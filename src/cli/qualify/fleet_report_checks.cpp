#include "qualify/fleet_report_checks.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/facts.hpp"
#include "common/knob_options.hpp"
#include "swapio/error.hpp"

namespace swapio::cli {
namespace {

using nlohmann::json;

// A value as the message quotes it: short, on one line.
std::string quoted(const json& v) {
  std::string s = v.dump();
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

// The checks of one report: each refusal names the file and the field ("workloads[1] (r).size").
class ReportChecker {
 public:
  explicit ReportChecker(std::string origin) : origin_(std::move(origin)) {}

  [[noreturn]] void bad(const std::string& field, const std::string& why) const {
    throw ConfigError(origin_ + ": " + field + ": " + why);
  }
  // obj[key], or null where it is absent and not required.
  const json& at(const json& obj, const std::string& key, const std::string& field, bool required) const {
    static const json absent;
    if (const auto it = obj.find(key); it != obj.end()) return *it;
    if (required) bad(field, "missing (a swapio qualify --json report has it)");
    return absent;
  }
  void string(const json& obj, const std::string& key, const std::string& prefix, bool required, bool nullable = false) const {
    const json& v = at(obj, key, prefix + key, required);
    if ((v.is_null() && (nullable || !obj.contains(key))) || (v.is_string() && !v.get<std::string>().empty())) return;
    bad(prefix + key, std::string("expected ") + (nullable ? "a string or null" : "a non-empty string") + ", not " + quoted(v));
  }
  void boolean(const json& obj, const std::string& key, const std::string& prefix, bool required, bool nullable = false) const {
    const json& v = at(obj, key, prefix + key, required);
    if (v.is_boolean() || (v.is_null() && (nullable || !obj.contains(key)))) return;
    bad(prefix + key, std::string("expected true or false") + (nullable ? " or null" : "") + ", not " + quoted(v));
  }
  // A finite number in [lo, hi]; whole: an integer too.
  void number(const json& obj, const std::string& key, const std::string& prefix, bool required, double lo, double hi,
              bool whole = false, bool nullable = false) const {
    const json& v = at(obj, key, prefix + key, required);
    if (v.is_null() && (nullable || !obj.contains(key))) return;
    number_value(v, prefix + key, lo, hi, whole);
  }
  void number_value(const json& v, const std::string& field, double lo, double hi, bool whole) const {
    const bool ok = v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() >= lo && v.get<double>() <= hi &&
                    (!whole || std::floor(v.get<double>()) == v.get<double>());
    if (ok) return;
    std::ostringstream range;
    range << (whole ? "a whole number" : "a number") << " from " << lo << " to " << hi;
    bad(field, "expected " + range.str() + ", not " + quoted(v));
  }
  const json& object(const json& obj, const std::string& key, const std::string& field, bool required) const {
    const json& v = at(obj, key, field, required);
    if (!v.is_object() && !(v.is_null() && !required && !obj.contains(key))) bad(field, "expected an object, not " + quoted(v));
    return v;
  }
  const json& array(const json& obj, const std::string& key, const std::string& field) const {
    const json& v = at(obj, key, field, true);
    if (!v.is_array()) bad(field, "expected a list, not " + quoted(v));
    return v;
  }

  void workload(const json& w, std::size_t k) const;

 private:
  std::string origin_;
};

constexpr double kMaxCount = 1e9;    // processes, queue depth, loops: far past anything real
constexpr double kMaxBytes = 1e18;   // sizes: an exabyte
constexpr double kMaxGiBps = 1e6;    // a PiB/s: past any device

void ReportChecker::workload(const json& w, std::size_t k) const {
  const std::string here = "workloads[" + std::to_string(k) + "]";
  if (!w.is_object()) bad(here, "expected an object, not " + quoted(w));
  string(w, "name", here + ".", true);
  const std::string p = here + " (" + w["name"].get<std::string>() + ").";
  const json& op = at(w, "op", p + "op", true);
  if (op != "write" && op != "read") bad(p + "op", "expected \"write\" or \"read\", not " + quoted(op));
  number(w, "size", p, true, 1, kMaxBytes, true);
  number(w, "block_size", p, true, 1, kMaxBytes, true);
  number(w, "queue_depth", p, true, 1, kMaxCount, true);
  number(w, "processes", p, true, 1, kMaxCount, true);
  string(w, "engine", p, true);
  boolean(w, "direct", p, true, true);
  number(w, "io_parallel", p, false, 1, kMaxCount, true);
  number(w, "loops", p, false, 1, kMaxCount, true);
  number(w, "warmup_loops", p, false, 0, kMaxCount, true);
  boolean(w, "handle", p, false);
  string(w, "error", p, true, true);
  boolean(w, "pass", p, true);
  const json& programs = object(w, "programs", p + "programs", true);
  for (const auto& [label, s] : programs.items()) {
    const std::string q = p + "programs." + label + ".";
    if (!s.is_object()) bad(q.substr(0, q.size() - 1), "expected an object, not " + quoted(s));
    number(s, "median_gib_per_s", q, false, 0, kMaxGiBps, false, true);
    if (s.contains("gib_per_s")) {
      const json& rounds = array(s, "gib_per_s", q + "gib_per_s");
      for (std::size_t r = 0; r < rounds.size(); ++r) {
        number_value(rounds[r], q + "gib_per_s[" + std::to_string(r) + "]", 0, kMaxGiBps, false);
      }
    }
  }
  // The fleet reads swapio's median of every workload that did not fail.
  if (w["error"].is_null() && !(programs.contains("swapio") && programs["swapio"].contains("median_gib_per_s") &&
                                programs["swapio"]["median_gib_per_s"].is_number())) {
    bad(p + "programs.swapio.median_gib_per_s", "missing, and the workload has no error");
  }
}

// Two reports' values of one field that must agree (null: not known in one, not compared).
void agree(const FleetNode& a, const FleetNode& b, const std::string& field, const json& x, const json& y) {
  if (x.is_null() || y.is_null() || x == y) return;
  throw ConfigError(a.origin + " and " + b.origin + " differ in " + field + ": " + quoted(x) + " and " + quoted(y) +
                    " (a fleet compares like with like)");
}

// What decides a workload's figure, beside its op and size.
constexpr const char* kLikeKeys[] = {"op", "size", "block_size", "queue_depth", "engine", "direct", "processes",
                                     "io_parallel", "handle", "loops", "warmup_loops", "single_submit",
                                     "overlap_events", "staging"};

void compare(const FleetNode& a, const FleetNode& b) {
  const json &x = a.report, &y = b.report;
  if (x["profile"] != y["profile"]) {
    throw ConfigError(b.origin + " ran profile " + y["profile"].get<std::string>() + ", " + a.origin + " profile " +
                      x["profile"].get<std::string>() + ": a fleet compares like with like");
  }
  const json &wx = x["workloads"], &wy = y["workloads"];
  for (std::size_t k = 0; k < std::max(wx.size(), wy.size()); ++k) {
    const json nx = k < wx.size() ? wx[k]["name"] : json("(none)");
    const json ny = k < wy.size() ? wy[k]["name"] : json("(none)");
    if (nx != ny) {
      throw ConfigError(a.origin + " and " + b.origin + " ran different workloads of profile " +
                        x["profile"].get<std::string>() + " (workloads[" + std::to_string(k) + "]: " + quoted(nx) +
                        " and " + quoted(ny) + ")");
    }
  }
  for (const char* key : {"outlier_fraction", "outlier_mads"}) {
    agree(a, b, std::string("fleet_rule.") + key, x["fleet_rule"][key], y["fleet_rule"][key]);
  }
  agree(a, b, "the number of folders", json(x["folders"].size()), json(y["folders"].size()));
  for (std::size_t k = 0; k < wx.size(); ++k) {
    const std::string field = "workloads[" + std::to_string(k) + "] (" + wx[k]["name"].get<std::string>() + ") ";
    for (const char* key : kLikeKeys) {
      agree(a, b, field + key, wx[k].value(key, json()), wy[k].value(key, json()));
    }
  }
}

}  // namespace

nlohmann::json read_qualify_report(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw ConfigError(path + ": cannot be read (" + std::strerror(errno) + ")");
  if (S_ISDIR(st.st_mode)) throw ConfigError(path + ": a folder, not a swapio qualify --json report");
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot be read (" + std::string(std::strerror(errno)) + ")");
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": cannot be read (" + std::string(std::strerror(errno)) + ")");
  json j = json::parse(text.str(), nullptr, false);
  if (j.is_discarded()) throw ConfigError(path + ": not JSON (a swapio qualify --json report is)");
  check_qualify_report(j, path);
  return j;
}

void check_qualify_report(const nlohmann::json& j, const std::string& origin) {
  const ReportChecker c(origin);
  if (!j.is_object() || !j.contains("profile") || !j.contains("workloads")) {
    throw ConfigError(origin + ": not a swapio qualify report (no profile and workloads)");
  }
  const json& version = c.at(j, "schema_version", "schema_version", true);
  if (!version.is_number_integer()) c.bad("schema_version", "expected a whole number, not " + quoted(version));
  if (version != kReportSchemaVersion) {
    c.bad("schema_version", quoted(version) + " is not a version this swapio reads (" +
                                std::to_string(kReportSchemaVersion) + "): a report of another swapio");
  }
  c.string(j, "profile", "", true);
  c.string(j, "node", "", false);
  const json& facts = c.object(j, "facts", "facts", false);
  if (facts.is_object()) c.string(facts, "host", "facts.", false);
  const json& rule = c.object(j, "fleet_rule", "fleet_rule", true);
  // The profile's own ranges (profile.cpp): a report cannot carry a rule a profile could not.
  c.number(rule, "outlier_fraction", "fleet_rule.", true, 0, 1);
  c.number(rule, "outlier_mads", "fleet_rule.", true, 0, 100);
  const json& folders = c.array(j, "folders", "folders");
  for (std::size_t i = 0; i < folders.size(); ++i) {
    if (!folders[i].is_string()) c.bad("folders[" + std::to_string(i) + "]", "expected a string, not " + quoted(folders[i]));
  }
  c.boolean(j, "pass", "", false);
  c.boolean(j, "interrupted", "", false);
  c.string(j, "verdict", "", false);
  c.number(j, "seconds", "", false, 0, 1e12);
  const json& workloads = c.array(j, "workloads", "workloads");
  if (workloads.empty()) c.bad("workloads", "empty (a profile has at least one workload)");
  for (std::size_t k = 0; k < workloads.size(); ++k) c.workload(workloads[k], k);
  if (node_name(j).empty()) throw ConfigError(origin + ": the report names no node (no node and no facts.host)");
}

void check_like_with_like(const std::vector<FleetNode>& nodes) {
  const FleetNode* first = nullptr;
  for (const FleetNode& n : nodes) {
    if (n.report.is_null()) continue;
    if (first == nullptr) first = &n;
    else compare(*first, n);
  }
}

nlohmann::json like_fields(const Profile& profile, std::size_t folders) {
  json workloads = json::array();
  for (const Workload& w : profile.workloads) {
    json f = knobs_to_json(w.config);
    f.update({{"name", w.name}, {"op", w.step ? "step" : w.write ? "write" : "read"}, {"size", w.size}, {"processes", w.processes},
              {"handle", w.handle}, {"loops", w.loops}, {"warmup_loops", w.warmup_loops}, {"device", w.device}});
    workloads.push_back(std::move(f));
  }
  return {{"fleet_rule", {{"outlier_fraction", profile.outlier_fraction}, {"outlier_mads", profile.outlier_mads}}},
          {"folders", folders},
          {"workloads", workloads}};
}

std::string first_difference(const nlohmann::json& a, const nlohmann::json& b, const std::string& at) {
  if (a.is_object() && b.is_object()) {
    for (const auto& [key, v] : a.items()) {
      const std::string here = at.empty() ? key : at + "." + key;
      if (!b.contains(key)) return here + ": " + quoted(v) + " and nothing";
      if (v != b[key]) return first_difference(v, b[key], here);
    }
    for (const auto& [key, v] : b.items()) {
      if (!a.contains(key)) return (at.empty() ? key : at + "." + key) + ": nothing and " + quoted(v);
    }
  } else if (a.is_array() && b.is_array() && a.size() == b.size()) {
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (a[i] != b[i]) return first_difference(a[i], b[i], at + "[" + std::to_string(i) + "]");
    }
  }
  return (at.empty() ? std::string("the settings") : at) + ": " + quoted(a) + " and " + quoted(b);
}

}  // namespace swapio::cli
