#include "tune/tune.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <set>

#include "bench/bench_options.hpp"
#include "common/knob_options.hpp"
#include "common/report_text.hpp"
#include "common/subprocess.hpp"
#include "swapio/swapio.hpp"

namespace swapio::cli {
namespace {

using Clock = std::chrono::steady_clock;

double combined(double w, double r) { return w > 0 && r > 0 ? 2.0 / (1.0 / w + 1.0 / r) : 0.0; }

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

// The plan: screening stages at growing sizes, each keeping the better quarter, then the
// leaders' confirming rounds at full size.
struct Stage {
  std::uint64_t size;
  std::size_t configurations;
};

std::vector<Stage> plan_stages(const TuneSpace& sp, std::size_t configurations) {
  std::vector<Stage> stages;
  std::size_t n = configurations;
  std::uint64_t size = sp.screen_size;
  while (n > sp.leaders && size < sp.size) {
    stages.push_back({size, n});
    n = std::max<std::size_t>(sp.leaders, (n + 3) / 4);
    size = std::min(sp.size, size * 4);
  }
  return stages;
}

// Planned bytes, for the progress estimate.
double planned_bytes(const TuneSpace& sp, const std::vector<Stage>& stages, std::size_t configurations) {
  double planned = 0;
  std::size_t n = configurations;
  for (const Stage& s : stages) {
    planned += 2.0 * static_cast<double>(s.size) * static_cast<double>(s.configurations);
    n = std::max<std::size_t>(sp.leaders, (s.configurations + 3) / 4);
  }
  return planned + 2.0 * static_cast<double>(sp.size) * static_cast<double>(n) * sp.rounds;
}

// Measures write+read pairs of configurations on one file in the folder (removed at the end).
class Bench {
 public:
  Bench(const TuneOptions& o, const TuneSpace& sp, const std::vector<Config>& space, std::vector<Trial>& trials,
        double planned)
      : path_((std::filesystem::path(o.folder) / ("swapio-tune." + std::to_string(::getpid()) + ".swp")).string()),
        space_(space), trials_(trials), buf_(static_cast<std::size_t>(sp.size)), progress_(planned) {
    std::memset(buf_.data(), 0x5a, buf_.size());
  }
  ~Bench() {
    progress_.finish();
    ::unlink(path_.c_str());
  }

  const Trial& measure(unsigned stage, std::uint64_t size, std::size_t k) {
    throw_if_interrupted();
    Handle handle(space_[k]);
    const std::span<std::byte> tensor = buf_.span().first(static_cast<std::size_t>(size));
    ::unlink(path_.c_str());  // every write to a fresh file
    const OpResult w = handle.pwrite(tensor, path_);
    const OpResult r = handle.pread(tensor, path_);
    const double wg = static_cast<double>(size) / kGiB / w.seconds, rg = static_cast<double>(size) / kGiB / r.seconds;
    trials_.push_back({stage, size, k, wg, rg, combined(wg, rg)});
    progress_.advance(2.0 * static_cast<double>(size),
                      (stage == 0 ? std::string("confirming ") : "stage " + std::to_string(stage) + " ") +
                          tune_label(space_[k]));
    return trials_.back();
  }

 private:
  std::string path_;
  const std::vector<Config>& space_;
  std::vector<Trial>& trials_;
  HostBuffer buf_;
  Progress progress_;
};

// Successive halving: returns the configurations left after the screening stages.
std::vector<std::size_t> screen(Bench& bench, const TuneSpace& sp, const std::vector<Stage>& stages,
                                const std::vector<Trial>& trials, std::size_t configurations) {
  std::vector<std::size_t> alive(configurations);
  for (std::size_t k = 0; k < configurations; ++k) alive[k] = k;
  for (std::size_t s = 0; s < stages.size(); ++s) {
    const std::size_t first = trials.size();
    for (std::size_t k : alive) bench.measure(static_cast<unsigned>(s + 1), stages[s].size, k);
    std::vector<std::size_t> order(trials.size() - first);
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = first + i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return trials[a].score > trials[b].score; });
    const std::size_t keep = std::max<std::size_t>(sp.leaders, (alive.size() + 3) / 4);
    alive.clear();
    for (std::size_t i = 0; i < std::min(keep, order.size()); ++i) alive.push_back(trials[order[i]].config);
  }
  return alive;
}

// The leaders' confirming rounds at full size; the best by its median combined figure.
void confirm(Bench& bench, const TuneSpace& sp, const std::vector<std::size_t>& leaders, TuneOutcome& out) {
  std::map<std::size_t, std::vector<double>> score, write, read;
  for (unsigned round = 0; round < sp.rounds; ++round) {
    for (std::size_t k : leaders) {
      const Trial& t = bench.measure(0, sp.size, k);
      score[k].push_back(t.score);
      write[k].push_back(t.write_gib);
      read[k].push_back(t.read_gib);
    }
  }
  out.best = leaders.front();
  for (std::size_t k : leaders) {
    if (median(score[k]) > median(score[out.best])) out.best = k;
  }
  out.best_combined = median(score[out.best]);
  out.best_write = median(write[out.best]);
  out.best_read = median(read[out.best]);
}

// The exhaustive sweep's cost: every configuration for the same confirming rounds, timed at the
// confirming runs' mean.
void estimate_exhaustive(const TuneSpace& sp, TuneOutcome& out) {
  double confirm_seconds = 0;
  std::size_t confirm_runs = 0;
  for (const Trial& r : out.trials) {
    if (r.stage == 0) {
      confirm_seconds += static_cast<double>(r.size) / kGiB * (1 / r.write_gib + 1 / r.read_gib);
      ++confirm_runs;
    }
  }
  out.exhaustive_runs = out.space.size() * sp.rounds;
  out.exhaustive_seconds = confirm_runs ? confirm_seconds / static_cast<double>(confirm_runs) *
                                              static_cast<double>(out.exhaustive_runs)
                                        : 0;
}

}  // namespace

std::vector<Config> TuneSpace::configurations(const std::string& at) const {
  std::vector<Config> out = {Config{}};
  for (const std::string& key : kTuneAxes) {
    const Knob& knob = *find_knob(key);
    const nlohmann::json& values = axes.at(key);
    if (!values.is_array() || values.empty()) throw ConfigError(at + ": " + key + ": expected a non-empty list");
    std::vector<Config> next;
    for (const Config& base : out) {
      for (const nlohmann::json& v : values) {
        Config c = base;
        knob_from_json(knob, v, c, at + ": " + key);
        next.push_back(c);
      }
    }
    out = std::move(next);
  }
  return out;
}

TuneSpace parse_tune_space(const nlohmann::json& j, const std::string& origin) {
  const std::string at = "space " + origin;
  if (!j.is_object()) throw ConfigError(at + ": expected an object");
  TuneSpace sp;
  for (const auto& [key, value] : j.items()) {
    if (sp.axes.contains(key)) {
      sp.axes[key] = value;
    } else if (key == "size") {
      sp.size = size_of(value, at + ": size");
    } else if (key == "screen_size") {
      sp.screen_size = size_of(value, at + ": screen_size");
    } else if (key == "rounds") {
      sp.rounds = count_of(value, at + ": rounds", 100);
    } else if (key == "leaders") {
      sp.leaders = count_of(value, at + ": leaders", 1000);
    } else {
      throw ConfigError(at + ": unknown key '" + key + "'");
    }
  }
  if (sp.screen_size > sp.size) throw ConfigError(at + ": screen_size is larger than size");
  for (const Config& c : sp.configurations(at)) {
    try {
      c.validate();
    } catch (const ConfigError& e) {
      throw ConfigError(at + ": " + e.what());
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
  catch_interrupts();  // an interrupt ends the search between runs; the file goes with the Bench
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

  check_room({{o.folder, sp.size}}, "a run of " + format_bytes(sp.size), "give a smaller \"size\" in --space");

  TuneOutcome out;
  out.space = sp.configurations();
  const std::vector<Stage> stages = plan_stages(sp, out.space.size());
  const auto t0 = Clock::now();
  std::exception_ptr failure;
  try {
    Bench bench(o, sp, out.space, out.trials, planned_bytes(sp, stages, out.space.size()));
    const std::vector<std::size_t> leaders = screen(bench, sp, stages, out.trials, out.space.size());
    confirm(bench, sp, leaders, out);
  } catch (const ConfigError&) {
    throw;  // bad input: nothing to report
  } catch (const std::exception& e) {
    // An I/O call the signal cut short fails too: then it was the interrupt.
    out.stopped = interrupt_signal() != 0 ? std::string("interrupted by ") + strsignal(interrupt_signal()) : e.what();
    failure = std::current_exception();
  }
  // The file is gone (with the Bench); the runs measured are reported either way.
  out.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  estimate_exhaustive(sp, out);
  if (!failure) {
    write_tune_reports(o, sp, out);
    return 0;
  }
  try {
    write_tune_reports(o, sp, out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "swapio tune: the reports of the runs measured could not be written: %s\n", e.what());
  }
  std::fflush(stdout);
  throw_if_interrupted();
  std::rethrow_exception(failure);
}

}  // namespace swapio::cli
