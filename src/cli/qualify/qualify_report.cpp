// `swapio qualify`'s reports: the table of floors and the verdict, JSON and JUnit XML.
#include "qualify/qualify_report.hpp"

#include "common/facts.hpp"
#include "common/report_text.hpp"
#include "common/subprocess.hpp"
#include "qualify/fleet.hpp"

namespace swapio::cli {
namespace {

// How the floors fared, counted as the table is printed.
struct Tally {
  std::size_t checks = 0, failed = 0, skipped = 0, errors = 0;
};

std::string rule_of(const FloorCheck& c) {
  if (c.kind == "absolute") return "absolute";
  if (c.kind == "round vs ceiling") return fmt("%.2fx ", c.factor) + "ceiling, every round";
  if (c.kind == "step time") return "step <= " + fmt("%.3g s", c.factor);
  if (c.kind == "vs lower bound") return fmt("%.2fx ", c.factor) + "I/O lower bound";
  return fmt("%.2fx ", c.factor) + (c.kind == "vs fio" ? "plain fio" : "ceiling");
}

// A row of the table: a floor of a workload, and its verdict (counted in tally).
void print_row(FILE* out, const WorkloadResult& r, const FloorCheck& c, Tally& tally) {
  ++tally.checks;
  const char* verdict = !c.error.empty() ? "ERROR" : c.skipped ? "SKIP" : c.pass ? "PASS" : "FAIL";
  if (!c.error.empty()) ++tally.errors;
  if (c.error.empty() && !c.skipped && !c.pass) ++tally.failed;
  if (c.error.empty() && c.skipped) ++tally.skipped;
  std::string rule = rule_of(c);
  if (c.kind == "vs fio" && r.fio_best) rule += fmt(" (%.2f)", *r.fio_best);
  if (c.kind == "vs ceiling" && r.ceiling_best) rule += fmt(" (%.2f)", *r.ceiling_best);
  if (c.kind == "round vs ceiling" && c.round > 0) rule += " (worst " + std::to_string(c.round) + ")";
  const char* io = !r.direct ? "-" : *r.direct ? "direct" : "buffered";
  // The least contiguous I/O memory swapio's processes had (fraction in >= 2 MiB pieces).
  const std::string memory = r.contiguous_2m ? fmt("%.0f%%", *r.contiguous_2m * 100) : "-";
  // A workload that failed before swapio's first round has no figure: "-", not 0.00.
  const std::string measured = r.programs.empty() || r.programs.front().second.gib_per_s.empty() ? "-" : fmt("%.2f", c.measured);
  std::fprintf(out, "%-20s %-5s %-8s %-7s %10s %10s  %-36s %s\n", r.workload.name.c_str(), r.workload.step ? "step" : r.workload.write ? "write" : "read",
              io, memory.c_str(), measured.c_str(), c.skipped || !c.error.empty() ? "-" : fmt("%.2f", c.floor).c_str(),
              rule.c_str(), verdict);
}

Tally print_table(FILE* out, const std::vector<WorkloadResult>& results) {
  std::fprintf(out, "\n%-20s %-5s %-8s %-7s %10s %10s  %-36s %s\n", "workload", "op", "I/O", "memory", "GiB/s", "floor", "rule",
              "result");
  Tally tally;
  for (const WorkloadResult& r : results) {
    for (const FloorCheck& c : r.checks) print_row(out, r, c, tally);
  }
  std::fprintf(out, "(memory: how much of swapio's I/O memory was physically contiguous in >= 2 MiB pieces, the least of its "
              "processes and rounds; - where not measured)\n");
  return tally;
}

// Per workload: why it failed, why it ran buffered, what swapio warned of its memory.
void print_notes(FILE* out, const std::vector<WorkloadResult>& results) {
  for (const WorkloadResult& r : results) {
    if (!r.error.empty()) std::fprintf(out, "%s: %s\n", r.workload.name.c_str(), r.error.c_str());
    if (r.direct && !*r.direct) {
      std::fprintf(out, "%s: buffered I/O for every program (%s)\n", r.workload.name.c_str(), r.direct_note.c_str());
    }
    if (!r.gds.empty()) std::fprintf(out, "%s: GDS: %s\n", r.workload.name.c_str(), r.gds.c_str());
    for (const std::string& w : r.memory_warnings) std::fprintf(out, "%s: warning: swapio %s\n", r.workload.name.c_str(), w.c_str());
  }
}

bool print_verdict(FILE* out, const Tally& t, double seconds) {
  const bool pass = t.failed == 0 && t.errors == 0 && t.checks > t.skipped;
  const std::size_t checked = t.checks - t.skipped - t.errors;
  const std::string skip_note = t.skipped > 0 ? ", " + std::to_string(t.skipped) + " skipped without a reference" : "";
  const std::string error_note =
      t.errors > 0 ? ", " + std::to_string(t.errors) + " not checked: the workload failed or was interrupted" : "";
  std::fprintf(out, "\nverdict: %s (%zu of %zu floors met%s%s, %.0f s)\n", pass ? "PASS" : "FAIL", checked - t.failed, checked,
              skip_note.c_str(), error_note.c_str(), seconds);
  return pass;
}

}  // namespace

bool print_qualify_results(FILE* out, const std::vector<WorkloadResult>& results, double seconds) {
  const Tally tally = print_table(out, results);
  print_notes(out, results);
  return print_verdict(out, tally, seconds);
}

nlohmann::json qualify_json(const QualifyOptions& o, const Profile& profile, const std::vector<WorkloadResult>& results,
                            bool pass, double seconds, const std::string& fio) {
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
  return j;
}

std::string qualify_junit(const Profile& p, const std::vector<WorkloadResult>& results, double seconds) {
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

}  // namespace swapio::cli
