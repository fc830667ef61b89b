#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "common/facts.hpp"
#include "common/knob_options.hpp"
#include "common/report_text.hpp"
#include "swapio/error.hpp"
#include "swapio/knobs.hpp"
#include "tune/tune.hpp"

namespace swapio::cli {
namespace {

// GiB/s over block size x queue depth, one panel per direction: each cell the best of the
// other knobs in the first screening stage (where every configuration ran at the same size).
std::string heat_map_svg(const std::vector<Config>& space, const std::vector<Trial>& runs) {
  std::vector<std::uint64_t> blocks;
  std::vector<unsigned> depths;
  for (const Config& c : space) {
    blocks.push_back(c.block_size);
    depths.push_back(c.queue_depth);
  }
  std::sort(blocks.begin(), blocks.end());
  blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
  std::sort(depths.begin(), depths.end());
  depths.erase(std::unique(depths.begin(), depths.end()), depths.end());
  std::map<std::pair<std::uint64_t, unsigned>, std::pair<double, double>> cell;  // (write, read)
  double top = 0, low = 1e300;
  std::uint64_t screen = 0;
  for (const Trial& r : runs) {
    if (r.stage != 1) continue;
    screen = r.size;
    auto& c = cell[{space[r.config].block_size, space[r.config].queue_depth}];
    c.first = std::max(c.first, r.write_gib);
    c.second = std::max(c.second, r.read_gib);
    top = std::max({top, r.write_gib, r.read_gib});
  }
  for (const auto& [key, c] : cell) low = std::min({low, c.first, c.second});
  const int cw = 90, ch = 44, left = 80, topm = 90, gap = 60;
  const int pw = left + cw * static_cast<int>(depths.size());
  const int width = std::max(2 * pw + gap + 20, 640), height = topm + 20 + ch * static_cast<int>(blocks.size()) + 30;
  std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                  std::to_string(width) + "\" height=\"" + std::to_string(height) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s += "  <title>swapio tune: GiB/s by block size and queue depth</title>\n";
  s += "  <text x=\"10\" y=\"20\" font-size=\"14\">swapio tune: GiB/s (2^30 B/s) by block size x queue depth</text>\n";
  s += "  <text x=\"10\" y=\"38\">best of the other knobs, screening runs of " + format_bytes(screen) +
       "; darker is faster</text>\n";
  for (int panel = 0; panel < 2; ++panel) {
    const int x0 = 10 + panel * (pw + gap);
    s += "  <g class=\"panel\" transform=\"translate(" + std::to_string(x0) + ",0)\">\n";
    s += "    <text x=\"" + std::to_string(left) + "\" y=\"62\" font-size=\"13\">" + (panel == 0 ? "write" : "read") + "</text>\n";
    for (std::size_t d = 0; d < depths.size(); ++d) {
      s += "    <text x=\"" + std::to_string(left + cw * static_cast<int>(d) + cw / 2) + "\" y=\"" + std::to_string(topm - 6) +
           "\" text-anchor=\"middle\">QD " + std::to_string(depths[d]) + "</text>\n";
    }
    for (std::size_t b = 0; b < blocks.size(); ++b) {
      const int y = topm + ch * static_cast<int>(b);
      s += "    <text x=\"" + std::to_string(left - 8) + "\" y=\"" + std::to_string(y + ch / 2 + 4) + "\" text-anchor=\"end\">" +
           format_bytes(blocks[b]) + "</text>\n";
      for (std::size_t d = 0; d < depths.size(); ++d) {
        const auto it = cell.find({blocks[b], depths[d]});
        const double v = it == cell.end() ? 0 : (panel == 0 ? it->second.first : it->second.second);
        // Shade from the lowest cell (light) to the highest (dark): differences of a few percent show.
        const double t = top > low ? (v - low) / (top - low) : 1.0;
        const int shade = 235 - static_cast<int>(std::lround(t * 175));
        const std::string fill = "rgb(" + std::to_string(shade) + "," + std::to_string(shade) + ",255)";
        const int x = left + cw * static_cast<int>(d);
        s += "    <rect x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(y) + "\" width=\"" + std::to_string(cw - 2) +
             "\" height=\"" + std::to_string(ch - 2) + "\" fill=\"" + fill + "\"/>\n";
        s += "    <text x=\"" + std::to_string(x + cw / 2) + "\" y=\"" + std::to_string(y + ch / 2 + 4) +
             "\" text-anchor=\"middle\">" + (it == cell.end() ? std::string("-") : fmt("%.2f", v)) + "</text>\n";
      }
    }
    s += "  </g>\n";
  }
  s += "</svg>\n";
  return s;
}

// The tuned knobs of c by key, in the report's order, as JSON values.
nlohmann::json axes_json(const Config& c) {
  const nlohmann::json all = knobs_to_json(c);
  nlohmann::json j = nlohmann::json::object();
  for (const std::string& key : kTuneAxes) j[key] = all.at(key);
  return j;
}

// DeepSpeed's "aio" block: the knobs it has, by its names.
nlohmann::json deepspeed_aio(const Config& c) {
  const nlohmann::json all = knobs_to_json(c);
  nlohmann::json aio = nlohmann::json::object();
  for (const Knob& k : knobs()) {
    if (k.deepspeed) aio[std::string(k.name)] = all.at(std::string(k.key));
  }
  return {{"aio", aio}};
}

}  // namespace

std::string tune_label(const Config& c) {
  return format_bytes(c.block_size) + " qd" + std::to_string(c.queue_depth) + (c.overlap_events ? " overlap" : " sequential") +
         (c.single_submit ? " single" : " batch") + " par" + std::to_string(c.intra_op_parallelism);
}

void write_tune_reports(const TuneOptions& o, const TuneSpace& sp, const TuneOutcome& out) {
  std::printf("swapio tune: %zu configurations on %s (write then read, fresh file each), GiB/s = 2^30 B/s\n\n",
              out.space.size(), o.folder.c_str());
  std::printf("%-6s %9s %8s %6s %-10s %-6s %4s %9s %9s %9s\n", "stage", "size", "block", "qd", "schedule", "submit", "par",
              "write", "read", "combined");
  std::string csv = "stage,size_bytes";
  for (const std::string& key : kTuneAxes) csv += "," + key;
  csv += ",write_gib_per_s,read_gib_per_s,combined_gib_per_s\n";
  nlohmann::json jruns = nlohmann::json::array();
  for (const Trial& r : out.trials) {
    const Config& k = out.space[r.config];
    const std::string stage = r.stage == 0 ? "final" : std::to_string(r.stage);
    std::printf("%-6s %9s %8s %6u %-10s %-6s %4u %9.2f %9.2f %9.2f\n", stage.c_str(), format_bytes(r.size).c_str(),
                format_bytes(k.block_size).c_str(), k.queue_depth, k.overlap_events ? "overlap" : "sequential",
                k.single_submit ? "single" : "batch", k.intra_op_parallelism, r.write_gib, r.read_gib, r.score);
    const nlohmann::json axes = axes_json(k);
    csv += stage + "," + std::to_string(r.size);
    for (const std::string& key : kTuneAxes) csv += "," + axes.at(key).dump();
    csv += "," + fmt("%.4f", r.write_gib) + "," + fmt("%.4f", r.read_gib) + "," + fmt("%.4f", r.score) + "\n";
    nlohmann::json row = {{"stage", stage}, {"size", r.size}};
    row.update(axes);
    row.update({{"write_gib_per_s", r.write_gib}, {"read_gib_per_s", r.read_gib}, {"combined_gib_per_s", r.score}});
    jruns.push_back(std::move(row));
  }
  if (!out.stopped.empty()) {
    std::printf("\nstopped after %zu runs (write+read pairs) in %.0f s: %s; no recommendation\n", out.trials.size(),
                out.seconds, out.stopped.c_str());
    write_report(o.prefix + ".csv", csv);
    write_report(o.prefix + ".svg", heat_map_svg(out.space, out.trials));
    const nlohmann::json report = {{"schema_version", kReportSchemaVersion},
                                   {"facts", run_facts({o.folder})},
                                   {"folder", o.folder},          {"configurations", out.space.size()},
                                   {"runs", jruns},               {"run_count", out.trials.size()},
                                   {"seconds", out.seconds},      {"complete", false},
                                   {"stopped", out.stopped},      {"best", nullptr}};
    write_report(o.prefix + ".json", report.dump(2) + "\n");
    std::printf("reports: %s.csv, %s.json, %s.svg (no %s-aio.json: no recommendation; one that exists is an "
                "earlier run's)\n",
                o.prefix.c_str(), o.prefix.c_str(), o.prefix.c_str(), o.prefix.c_str());
    return;
  }
  const Config& b = out.space[out.best];
  const nlohmann::json aio = deepspeed_aio(b);
  std::printf("\n%zu runs (write+read pairs) in %.0f s; an exhaustive sweep at full size would be %zu runs, about %.0f s "
              "(from the confirming runs' mean): %.0f%% of its time\n",
              out.trials.size(), out.seconds, out.exhaustive_runs, out.exhaustive_seconds,
              out.exhaustive_seconds > 0 ? 100 * out.seconds / out.exhaustive_seconds : 0.0);
  std::printf("best: %s: write %.2f, read %.2f, combined %.2f GiB/s (medians of %u confirming rounds)\n",
              tune_label(b).c_str(), out.best_write, out.best_read, out.best_combined, sp.rounds);
  std::printf("DeepSpeed config block (%s-aio.json):\n%s\n", o.prefix.c_str(), aio.dump(2).c_str());

  write_report(o.prefix + ".csv", csv);
  write_report(o.prefix + "-aio.json", aio.dump(2) + "\n");
  write_report(o.prefix + ".svg", heat_map_svg(out.space, out.trials));
  const nlohmann::json report = {{"schema_version", kReportSchemaVersion},
                                 {"facts", run_facts({o.folder})},
                                 {"folder", o.folder},
                                 {"configurations", out.space.size()},
                                 {"runs", jruns},
                                 {"run_count", out.trials.size()},
                                 {"seconds", out.seconds},
                                 {"exhaustive_runs", out.exhaustive_runs},
                                 {"exhaustive_seconds_estimate", out.exhaustive_seconds},
                                 {"complete", true},
                                 {"stopped", nullptr},
                                 {"best", aio.at("aio")},
                                 {"best_combined_gib_per_s", out.best_combined},
                                 {"best_write_gib_per_s", out.best_write},
                                 {"best_read_gib_per_s", out.best_read}};
  write_report(o.prefix + ".json", report.dump(2) + "\n");
  std::printf("reports: %s.csv, %s.json, %s.svg, %s-aio.json\n", o.prefix.c_str(), o.prefix.c_str(), o.prefix.c_str(),
              o.prefix.c_str());
}

}  // namespace swapio::cli
