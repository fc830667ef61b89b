#include "swapio/result.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace swapio {

LatencySummary summarize_latencies(std::vector<std::uint64_t> ns) {
  LatencySummary s;
  s.count = ns.size();
  if (ns.empty()) return s;
  std::sort(ns.begin(), ns.end());
  auto rank = [&](double q) {
    const auto r = static_cast<std::size_t>(std::ceil(q * static_cast<double>(ns.size())));
    return static_cast<double>(ns[std::clamp<std::size_t>(r, 1, ns.size()) - 1]) / 1e3;
  };
  s.mean_us = static_cast<double>(std::accumulate(ns.begin(), ns.end(), std::uint64_t{0})) /
              static_cast<double>(ns.size()) / 1e3;
  s.p50_us = rank(0.50);
  s.p99_us = rank(0.99);
  s.p999_us = rank(0.999);
  s.max_us = static_cast<double>(ns.back()) / 1e3;
  return s;
}

double OpResult::gib_per_s() const noexcept {
  if (seconds <= 0) return 0;
  return static_cast<double>(bytes) / static_cast<double>(1ull << 30) / seconds;
}

}  // namespace swapio
