// A workload's verdict: medians over the rounds, the references they give, and each floor.
#include "qualify/floors_verdict.hpp"

#include <algorithm>

#include "common/report_text.hpp"

namespace swapio::cli {
namespace {

// The programs' medians into res; the plain fio engine with the better median gives fio_best.
// Returns the ceiling engine with the better median: the ceiling of the median floor, and the
// pair of the per-round one.
std::optional<std::size_t> take_medians(WorkloadResult& res, const std::vector<FloorProgram>& programs,
                                        std::vector<Series>& series) {
  std::optional<std::size_t> best_ceiling;
  for (std::size_t k = 0; k < programs.size(); ++k) {
    series[k].median_gib_per_s = median(series[k].gib_per_s);
    series[k].median_cpu_per_gib = median(series[k].cpu_per_gib);
    res.programs.emplace_back(programs[k].label, series[k]);
    if (series[k].gib_per_s.empty()) continue;
    if (programs[k].kind == FloorProgram::Kind::ceiling &&
        (!best_ceiling || series[k].median_gib_per_s > series[*best_ceiling].median_gib_per_s)) {
      best_ceiling = k;
    }
    if (res.error.empty() && programs[k].kind == FloorProgram::Kind::fio) {
      res.fio_best = std::max(res.fio_best.value_or(0.0), series[k].median_gib_per_s);
    }
  }
  if (best_ceiling && res.error.empty()) res.ceiling_best = series[*best_ceiling].median_gib_per_s;
  for (const std::optional<double>& c : series.front().contiguous_2m) {
    if (c) res.contiguous_2m = std::min(res.contiguous_2m.value_or(1.0), *c);
  }
  return best_ceiling;
}

// The slowest round against its pair: swapio's run and the ceiling's run of the same round (the
// ceiling engine with the better median, `reference`), where the device's drift is shared.
// Skipped without a ceiling.
FloorCheck round_check(const WorkloadResult& res, const std::pair<std::string, Series>* reference, double factor) {
  FloorCheck c{"round vs ceiling", factor, 0, 0, 0, reference ? reference->first : "", false, false, res.error};
  if (!res.error.empty()) return c;
  if (reference == nullptr) {
    c.skipped = true;
    return c;
  }
  const Series& swapio = res.programs.front().second;
  const Series* ceiling = &reference->second;
  double worst = 0;
  for (std::size_t r = 0; r < std::min(swapio.gib_per_s.size(), ceiling->gib_per_s.size()); ++r) {
    const double ratio = ceiling->gib_per_s[r] > 0 ? swapio.gib_per_s[r] / ceiling->gib_per_s[r] : 1.0;
    if (c.round == 0 || ratio < worst) {
      worst = ratio;
      c.round = static_cast<unsigned>(r + 1);
      c.measured = swapio.gib_per_s[r];
      c.floor = factor * ceiling->gib_per_s[r];
    }
  }
  c.pass = c.round > 0 && c.measured >= c.floor;
  return c;
}

// Each floor the workload has, against swapio's median (or its slowest round's pair).
void check_floors(WorkloadResult& res, std::optional<std::size_t> best_ceiling) {
  const Workload& w = res.workload;
  const double measured = res.programs.front().second.median_gib_per_s;
  const auto check = [&](const char* kind, double factor, std::optional<double> base) {
    FloorCheck c{kind, factor, 0, measured, 0, "", false, res.error.empty() && !base.has_value(), res.error};
    if (base && res.error.empty()) {
      c.floor = factor * *base;
      c.pass = measured >= c.floor;
    }
    res.checks.push_back(c);
  };
  if (w.floor_gib_per_s) check("absolute", *w.floor_gib_per_s, 1.0);
  if (w.floor_vs_fio) check("vs fio", *w.floor_vs_fio, res.fio_best);
  if (w.floor_vs_ceiling) check("vs ceiling", *w.floor_vs_ceiling, res.ceiling_best);
  const Series& swapio = res.programs.front().second;
  if (w.floor_vs_lower_bound) {
    const double lb = median(swapio.lower_bound_gib_per_s);
    check("vs lower bound", *w.floor_vs_lower_bound, lb > 0 ? std::optional<double>(lb) : std::nullopt);
  }
  if (w.floor_step_seconds) {  // at most T seconds a step is at least the step's GiB / T
    const double seconds = median(swapio.step_seconds);
    FloorCheck c{"step time", *w.floor_step_seconds, 0, measured, 0, "", false, res.error.empty() && seconds <= 0, res.error};
    if (seconds > 0 && res.error.empty()) {
      c.floor = measured * seconds / *w.floor_step_seconds;
      c.pass = seconds <= *w.floor_step_seconds;
    }
    res.checks.push_back(c);
  }
  if (w.floor_round_vs_ceiling) {
    res.checks.push_back(round_check(res, best_ceiling ? &res.programs[*best_ceiling] : nullptr, *w.floor_round_vs_ceiling));
  }
}

}  // namespace

void judge_workload(WorkloadResult& res, const std::vector<FloorProgram>& programs, std::vector<Series> series) {
  const std::optional<std::size_t> best_ceiling = take_medians(res, programs, series);
  check_floors(res, best_ceiling);
  res.pass = res.error.empty() && std::all_of(res.checks.begin(), res.checks.end(), [](const FloorCheck& c) {
    return c.skipped || c.pass;
  });
}

}  // namespace swapio::cli
