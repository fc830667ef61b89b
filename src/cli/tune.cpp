#include "tune.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "bench_options.hpp"
#include "swapio/swapio.hpp"

namespace swapio::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Knobs {
  std::uint64_t block_size;
  unsigned queue_depth;
  bool overlap_events;
  bool single_submit;
  unsigned io_parallel;

  Config config() const {
    Config c;
    c.block_size = block_size;
    c.queue_depth = queue_depth;
    c.overlap_events = overlap_events;
    c.single_submit = single_submit;
    c.intra_op_parallelism = io_parallel;
    return c;
  }
  std::string label() const {
    return format_bytes(block_size) + " qd" + std::to_string(queue_depth) + (overlap_events ? " overlap" : " sequential") +
           (single_submit ? " single" : " batch") + " par" + std::to_string(io_parallel);
  }
};

struct Run {
  unsigned stage;  // 1.. screening stages; 0 for the confirming rounds
  std::uint64_t size;
  std::size_t config;  // index into the space
  double write_gib;
  double read_gib;
  double score;  // the pair's combined figure: 2 bytes-worth over both times
};

double combined(double w, double r) { return w > 0 && r > 0 ? 2.0 / (1.0 / w + 1.0 / r) : 0.0; }

template <typename T>
std::vector<T> list_of(const nlohmann::json& j, const std::string& where, auto&& convert) {
  if (!j.is_array() || j.empty()) throw ConfigError(where + ": expected a non-empty list");
  std::vector<T> out;
  for (const auto& v : j) out.push_back(convert(v));
  return out;
}

std::uint64_t size_of(const nlohmann::json& v, const std::string& where) {
  try {
    if (v.is_number_integer() && v.get<std::int64_t>() > 0) return v.get<std::uint64_t>();
    if (v.is_string()) {
      const std::uint64_t s = parse_size(v.get<std::string>());
      if (s > 0) return s;
    }
  } catch (const ConfigError& e) {
    throw ConfigError(where + ": " + e.what());
  }
  throw ConfigError(where + ": expected a size above 0 such as 1048576 or \"1M\"");
}

unsigned count_of(const nlohmann::json& v, const std::string& where, unsigned hi) {
  if (!v.is_number_integer() || v.get<std::int64_t>() < 1 || v.get<std::int64_t>() > hi) {
    throw ConfigError(where + ": expected a whole number from 1 to " + std::to_string(hi));
  }
  return v.get<unsigned>();
}

bool bool_of(const nlohmann::json& v, const std::string& where) {
  if (!v.is_boolean()) throw ConfigError(where + ": expected true or false");
  return v.get<bool>();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  if (!out) throw_io_error(EIO, "write report", path);  // after the measurement: exit 1, not 2
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// GiB/s over block size x queue depth, one panel per direction: each cell the best of the
// other knobs in the first screening stage (where every configuration ran at the same size).
std::string heat_map_svg(const TuneSpace& sp, const std::vector<Knobs>& space, const std::vector<Run>& runs) {
  std::vector<std::uint64_t> blocks = sp.block_sizes;
  std::vector<unsigned> depths = sp.queue_depths;
  std::sort(blocks.begin(), blocks.end());
  blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
  std::sort(depths.begin(), depths.end());
  depths.erase(std::unique(depths.begin(), depths.end()), depths.end());
  std::map<std::pair<std::uint64_t, unsigned>, std::pair<double, double>> cell;  // (write, read)
  double top = 0, low = 1e300;
  std::uint64_t screen = 0;
  for (const Run& r : runs) {
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

class Progress {
 public:
  explicit Progress(double total_bytes) : total_(total_bytes), start_(Clock::now()), tty_(::isatty(STDERR_FILENO) != 0) {}
  void advance(double bytes, const std::string& what) {
    done_ += bytes;
    if (!tty_) return;
    const double frac = total_ > 0 ? std::min(1.0, done_ / total_) : 1.0;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const double left = frac > 0 ? elapsed * (1 - frac) / frac : 0;
    const int filled = static_cast<int>(frac * 30);
    std::fprintf(stderr, "\r\033[K[%s%s] %3.0f%% ~%.0f s left  %s", std::string(static_cast<std::size_t>(filled), '#').c_str(),
                 std::string(static_cast<std::size_t>(30 - filled), '.').c_str(), frac * 100, left, what.c_str());
  }
  void finish() {
    if (tty_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  double total_;
  double done_ = 0;
  Clock::time_point start_;
  bool tty_;
};

}  // namespace

TuneSpace parse_tune_space(const nlohmann::json& j, const std::string& origin) {
  const std::string at = "space " + origin;
  if (!j.is_object()) throw ConfigError(at + ": expected an object");
  static const std::set<std::string> known = {"block_size", "queue_depth", "overlap_events", "single_submit",
                                              "io_parallel", "size", "screen_size", "rounds", "leaders"};
  for (const auto& [key, value] : j.items()) {
    if (!known.contains(key)) throw ConfigError(at + ": unknown key '" + key + "'");
  }
  TuneSpace sp;
  if (j.contains("block_size")) {
    sp.block_sizes = list_of<std::uint64_t>(j.at("block_size"), at + ": block_size",
                                            [&](const auto& v) { return size_of(v, at + ": block_size"); });
  }
  if (j.contains("queue_depth")) {
    sp.queue_depths = list_of<unsigned>(j.at("queue_depth"), at + ": queue_depth",
                                        [&](const auto& v) { return count_of(v, at + ": queue_depth", kMaxQueueDepth); });
  }
  if (j.contains("overlap_events")) {
    sp.overlap_events = list_of<bool>(j.at("overlap_events"), at + ": overlap_events",
                                      [&](const auto& v) { return bool_of(v, at + ": overlap_events"); });
  }
  if (j.contains("single_submit")) {
    sp.single_submit = list_of<bool>(j.at("single_submit"), at + ": single_submit",
                                     [&](const auto& v) { return bool_of(v, at + ": single_submit"); });
  }
  if (j.contains("io_parallel")) {
    sp.io_parallel = list_of<unsigned>(j.at("io_parallel"), at + ": io_parallel",
                                       [&](const auto& v) { return count_of(v, at + ": io_parallel", kMaxParallelism); });
  }
  if (j.contains("size")) sp.size = size_of(j.at("size"), at + ": size");
  if (j.contains("screen_size")) sp.screen_size = size_of(j.at("screen_size"), at + ": screen_size");
  if (j.contains("rounds")) sp.rounds = count_of(j.at("rounds"), at + ": rounds", 100);
  if (j.contains("leaders")) sp.leaders = count_of(j.at("leaders"), at + ": leaders", 1000);
  if (sp.screen_size > sp.size) throw ConfigError(at + ": screen_size is larger than size");
  for (std::uint64_t b : sp.block_sizes) {
    Config c;
    c.block_size = b;
    try {
      c.validate();
    } catch (const ConfigError& e) {
      throw ConfigError(at + ": block_size: " + e.what());
    }
  }
  return sp;
}

void add_tune_options(CLI::App& app, TuneOptions& o) {
  app.add_option("--folder", o.folder, "folder on the storage to tune for")->required();
  app.add_option("--space", o.space,
                 "JSON file overriding the space: block_size, queue_depth, overlap_events, single_submit, io_parallel "
                 "(lists), size, screen_size, rounds, leaders [default: 1M/8M x QD 32/128 x overlap on/off x "
                 "single_submit on/off x io_parallel 1/2/4/8, 1 GiB, screening at 64 MiB, 3 rounds, 3 leaders]");
  app.add_option("--prefix", o.prefix, "reports: PREFIX.csv, PREFIX.json, PREFIX.svg and PREFIX-aio.json")
      ->capture_default_str();
}

int run_tune(const TuneOptions& o) {
  TuneSpace sp;
  if (!o.space.empty()) {
    std::ifstream in(o.space);
    if (!in) throw ConfigError("space " + o.space + ": cannot be read");
    try {
      sp = parse_tune_space(nlohmann::json::parse(in), o.space);
    } catch (const nlohmann::json::parse_error& e) {
      throw ConfigError("space " + o.space + ": not valid JSON (" + e.what() + ")");
    }
  }
  check_writable_folder("--folder", o.folder);
  check_writable_file_folder("--prefix " + o.prefix, o.prefix);


  std::vector<Knobs> space;
  for (auto b : sp.block_sizes)
    for (auto q : sp.queue_depths)
      for (bool ov : sp.overlap_events)
        for (bool ss : sp.single_submit)
          for (auto p : sp.io_parallel) space.push_back({b, q, ov, ss, p});

  // The plan: screening stages at growing sizes keeping the better quarter, then the leaders'
  // confirming rounds at full size. Planned bytes drive the progress estimate.
  std::vector<std::pair<std::uint64_t, std::size_t>> stages;  // (size, configurations run)
  double planned = 0;
  {
    std::size_t n = space.size();
    std::uint64_t size = sp.screen_size;
    while (n > sp.leaders && size < sp.size) {
      stages.emplace_back(size, n);
      planned += 2.0 * static_cast<double>(size) * static_cast<double>(n);
      n = std::max<std::size_t>(sp.leaders, (n + 3) / 4);
      size = std::min(sp.size, size * 4);
    }
    planned += 2.0 * static_cast<double>(sp.size) * static_cast<double>(n) * sp.rounds;
  }

  const std::string path = (std::filesystem::path(o.folder) / ("swapio-tune." + std::to_string(::getpid()) + ".swp")).string();
  struct Remove {
    const std::string& p;
    ~Remove() { ::unlink(p.c_str()); }
  } remove{path};
  HostBuffer buf(static_cast<std::size_t>(sp.size));
  std::memset(buf.data(), 0x5a, buf.size());

  std::vector<Run> runs;
  Progress progress(planned);
  const auto t0 = Clock::now();
  const auto measure = [&](unsigned stage, std::uint64_t size, std::size_t k) {
    const Config c = space[k].config();
    Handle handle(c);
    const std::span<std::byte> tensor = buf.span().first(static_cast<std::size_t>(size));
    ::unlink(path.c_str());  // every write to a fresh file
    const OpResult w = handle.pwrite(tensor, path);
    const OpResult r = handle.pread(tensor, path);
    const double wg = static_cast<double>(size) / kGiB / w.seconds, rg = static_cast<double>(size) / kGiB / r.seconds;
    runs.push_back({stage, size, k, wg, rg, combined(wg, rg)});
    progress.advance(2.0 * static_cast<double>(size),
                     (stage == 0 ? std::string("confirming ") : "stage " + std::to_string(stage) + " ") + space[k].label());
  };

  std::vector<std::size_t> alive(space.size());
  for (std::size_t k = 0; k < space.size(); ++k) alive[k] = k;
  for (std::size_t s = 0; s < stages.size(); ++s) {
    const std::size_t first = runs.size();
    for (std::size_t k : alive) measure(static_cast<unsigned>(s + 1), stages[s].first, k);
    std::vector<std::size_t> order(runs.size() - first);
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = first + i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return runs[a].score > runs[b].score; });
    const std::size_t keep = std::max<std::size_t>(sp.leaders, (alive.size() + 3) / 4);
    alive.clear();
    for (std::size_t i = 0; i < std::min(keep, order.size()); ++i) alive.push_back(runs[order[i]].config);
  }
  std::map<std::size_t, std::vector<double>> confirmed, confirmed_w, confirmed_r;
  for (unsigned round = 0; round < sp.rounds; ++round) {
    for (std::size_t k : alive) {
      measure(0, sp.size, k);
      confirmed[k].push_back(runs.back().score);
      confirmed_w[k].push_back(runs.back().write_gib);
      confirmed_r[k].push_back(runs.back().read_gib);
    }
  }
  progress.finish();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  };
  std::size_t best = alive.front();
  for (std::size_t k : alive) {
    if (median(confirmed[k]) > median(confirmed[best])) best = k;
  }
  // The exhaustive sweep's cost: every configuration for the same confirming rounds, timed at
  // the confirming runs' mean.
  double confirm_seconds = 0;
  std::size_t confirm_runs = 0;
  for (const Run& r : runs) {
    if (r.stage == 0) {
      confirm_seconds += static_cast<double>(r.size) / kGiB * (1 / r.write_gib + 1 / r.read_gib);
      ++confirm_runs;
    }
  }
  const std::size_t exhaustive_runs = space.size() * sp.rounds;
  const double exhaustive_seconds = confirm_runs ? confirm_seconds / static_cast<double>(confirm_runs) * static_cast<double>(exhaustive_runs) : 0;

  // Reports.
  std::printf("swapio tune: %zu configurations on %s (write then read, fresh file each), GiB/s = 2^30 B/s\n\n", space.size(),
              o.folder.c_str());
  std::printf("%-6s %9s %8s %6s %-10s %-6s %4s %9s %9s %9s\n", "stage", "size", "block", "qd", "schedule", "submit", "par",
              "write", "read", "combined");
  std::string csv = "stage,size_bytes,block_size,queue_depth,overlap_events,single_submit,io_parallel,write_gib_per_s,read_gib_per_s,combined_gib_per_s\n";
  nlohmann::json jruns = nlohmann::json::array();
  for (const Run& r : runs) {
    const Knobs& k = space[r.config];
    const std::string stage = r.stage == 0 ? "final" : std::to_string(r.stage);
    std::printf("%-6s %9s %8s %6u %-10s %-6s %4u %9.2f %9.2f %9.2f\n", stage.c_str(), format_bytes(r.size).c_str(),
                format_bytes(k.block_size).c_str(), k.queue_depth, k.overlap_events ? "overlap" : "sequential",
                k.single_submit ? "single" : "batch", k.io_parallel, r.write_gib, r.read_gib, r.score);
    csv += stage + "," + std::to_string(r.size) + "," + std::to_string(k.block_size) + "," + std::to_string(k.queue_depth) + "," +
           (k.overlap_events ? "true" : "false") + "," + (k.single_submit ? "true" : "false") + "," + std::to_string(k.io_parallel) +
           "," + fmt("%.4f", r.write_gib) + "," + fmt("%.4f", r.read_gib) + "," + fmt("%.4f", r.score) + "\n";
    jruns.push_back({{"stage", stage}, {"size", r.size}, {"block_size", k.block_size}, {"queue_depth", k.queue_depth},
                     {"overlap_events", k.overlap_events}, {"single_submit", k.single_submit}, {"io_parallel", k.io_parallel},
                     {"write_gib_per_s", r.write_gib}, {"read_gib_per_s", r.read_gib}, {"combined_gib_per_s", r.score}});
  }
  const Knobs& b = space[best];
  const nlohmann::json aio = {{"aio",
                               {{"block_size", b.block_size},
                                {"queue_depth", b.queue_depth},
                                {"intra_op_parallelism", b.io_parallel},
                                {"single_submit", b.single_submit},
                                {"overlap_events", b.overlap_events}}}};
  std::printf("\n%zu runs (write+read pairs) in %.0f s; an exhaustive sweep at full size would be %zu runs, about %.0f s "
              "(from the confirming runs' mean): %.0f%% of its time\n",
              runs.size(), seconds, exhaustive_runs, exhaustive_seconds,
              exhaustive_seconds > 0 ? 100 * seconds / exhaustive_seconds : 0.0);
  std::printf("best: %s: write %.2f, read %.2f, combined %.2f GiB/s (medians of %u confirming rounds)\n", b.label().c_str(),
              median(confirmed_w[best]), median(confirmed_r[best]), median(confirmed[best]), sp.rounds);
  std::printf("DeepSpeed config block (%s-aio.json):\n%s\n", o.prefix.c_str(), aio.dump(2).c_str());

  write_text(o.prefix + ".csv", csv);
  write_text(o.prefix + "-aio.json", aio.dump(2) + "\n");
  write_text(o.prefix + ".svg", heat_map_svg(sp, space, runs));
  const nlohmann::json report = {{"folder", o.folder},
                                 {"configurations", space.size()},
                                 {"runs", jruns},
                                 {"run_count", runs.size()},
                                 {"seconds", seconds},
                                 {"exhaustive_runs", exhaustive_runs},
                                 {"exhaustive_seconds_estimate", exhaustive_seconds},
                                 {"best", aio.at("aio")},
                                 {"best_combined_gib_per_s", median(confirmed[best])},
                                 {"best_write_gib_per_s", median(confirmed_w[best])},
                                 {"best_read_gib_per_s", median(confirmed_r[best])}};
  write_text(o.prefix + ".json", report.dump(2) + "\n");
  std::printf("reports: %s.csv, %s.json, %s.svg, %s-aio.json\n", o.prefix.c_str(), o.prefix.c_str(), o.prefix.c_str(),
              o.prefix.c_str());
  return 0;
}

}  // namespace swapio::cli
