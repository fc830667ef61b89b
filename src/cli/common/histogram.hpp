// A log-bucketed latency histogram (2% buckets): small enough to send from a worker process in
// one JSON line whatever the request count, exact enough to merge into percentiles.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>

namespace swapio::cli {

class Histogram {
 public:
  void add(std::uint64_t ns) {
    ++buckets_[bucket(ns)];
    ++count_;
    if (ns > max_) max_ = ns;
  }
  void merge(const Histogram& o) {
    for (const auto& [b, n] : o.buckets_) buckets_[b] += n;
    count_ += o.count_;
    if (o.max_ > max_) max_ = o.max_;
  }
  std::uint64_t count() const noexcept { return count_; }
  // Nearest-rank percentile in microseconds: the bucket's geometric middle, and the true max where
  // the rank is the largest request's (q = 1, or a single request).
  double percentile_us(double q) const {
    if (count_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    if (rank >= count_) return static_cast<double>(max_) / 1e3;  // the largest request (one request: every percentile)
    std::uint64_t seen = 0;
    for (const auto& [b, n] : buckets_) {
      seen += n;
      if (seen >= std::max<std::uint64_t>(rank, 1)) return std::min(middle_ns(b), static_cast<double>(max_)) / 1e3;
    }
    return static_cast<double>(max_) / 1e3;
  }
  double max_us() const noexcept { return static_cast<double>(max_) / 1e3; }

  nlohmann::json to_json() const {
    nlohmann::json pairs = nlohmann::json::array();
    for (const auto& [b, n] : buckets_) pairs.push_back({b, n});
    return {{"max_ns", max_}, {"buckets", pairs}};
  }
  static Histogram from_json(const nlohmann::json& j) {
    Histogram h;
    h.max_ = j.at("max_ns").get<std::uint64_t>();
    for (const auto& p : j.at("buckets")) {
      const auto n = p.at(1).get<std::uint64_t>();
      h.buckets_[p.at(0).get<std::uint32_t>()] += n;
      h.count_ += n;
    }
    return h;
  }

 private:
  static constexpr double kGrowth = 1.02;
  static std::uint32_t bucket(std::uint64_t ns) {
    return ns <= 1 ? 0 : static_cast<std::uint32_t>(std::log(static_cast<double>(ns)) / std::log(kGrowth)) + 1;
  }
  static double middle_ns(std::uint32_t b) {
    return b == 0 ? 1.0 : std::pow(kGrowth, static_cast<double>(b - 1) + 0.5);
  }

  std::map<std::uint32_t, std::uint64_t> buckets_;
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace swapio::cli
