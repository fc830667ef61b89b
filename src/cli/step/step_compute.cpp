// Optimizer updates as DeepSpeed's CPU optimizers compute them (fp32, in place), vectorized by
// the compiler (this file is built with -O3 -fno-math-errno) and split over threads.
#include "step/step_compute.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <functional>
#include <thread>

#include "common/report_text.hpp"
#include "swapio/error.hpp"

namespace swapio::cli {
namespace {

constexpr float kLr = 1e-3f, kBeta1 = 0.9f, kBeta2 = 0.999f, kEps = 1e-8f, kDecay = 0.01f;

// Runs body(begin, end) over [0, n) in `threads` contiguous pieces, this thread taking the last.
void parallel_for(std::size_t n, unsigned threads, const std::function<void(std::size_t, std::size_t)>& body) {
  threads = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(std::max<std::size_t>(1, n >> 16))));
  const std::size_t piece = (n + threads - 1) / threads;
  std::vector<std::thread> pool;
  for (unsigned t = 0; t + 1 < threads; ++t) {
    pool.emplace_back(body, t * piece, std::min(n, (t + 1) * piece));
  }
  body(std::min(n, (threads - 1) * piece), n);
  for (std::thread& th : pool) th.join();
}

void adam(unsigned step, bool decoupled, float* p, float* m, float* v, const float* g, std::size_t n) {
  const float c1 = 1.0f / (1.0f - std::pow(kBeta1, static_cast<float>(step)));
  const float c2 = 1.0f / (1.0f - std::pow(kBeta2, static_cast<float>(step)));
  for (std::size_t i = 0; i < n; ++i) {
    const float grad = decoupled ? g[i] : g[i] + kDecay * p[i];
    m[i] = kBeta1 * m[i] + (1.0f - kBeta1) * grad;
    v[i] = kBeta2 * v[i] + (1.0f - kBeta2) * grad * grad;
    const float update = (m[i] * c1) / (std::sqrt(v[i] * c2) + kEps);
    p[i] -= kLr * (decoupled ? update + kDecay * p[i] : update);
  }
}

void adagrad(float* p, float* v, const float* g, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    v[i] += g[i] * g[i];
    p[i] -= kLr * g[i] / (std::sqrt(v[i]) + kEps);
  }
}

void lion(float* p, float* m, const float* g, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const float c = kBeta1 * m[i] + (1.0f - kBeta1) * g[i];
    const float sign = static_cast<float>((c > 0.0f) - (c < 0.0f));
    p[i] -= kLr * (sign + kDecay * p[i]);
    m[i] = kBeta2 * m[i] + (1.0f - kBeta2) * g[i];
  }
}

void sgd(float* p, float* b, const float* g, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    b[i] = kBeta1 * b[i] + g[i];
    p[i] -= kLr * b[i];
  }
}

// A cheap hash of (seed, i) as a small float: vectorizable, and different for every element.
inline float noise(std::uint64_t seed, std::size_t i) {
  const std::uint32_t x = static_cast<std::uint32_t>(i) * 2654435761u ^ static_cast<std::uint32_t>(seed * 40503u);
  return static_cast<float>((x >> 8) & 0xffff) * (1.0f / 65536.0f) - 0.5f;
}

}  // namespace

ComputeSpec ComputeSpec::parse(std::string_view text) {
  ComputeSpec c;
  if (text == "adam") return c;
  if (text == "none") {
    c.kind = Kind::none;
    return c;
  }
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !(v > 0) || !std::isfinite(v)) {
    throw ConfigError("--compute " + std::string(text) +
                      ": use adam (the real update), none (I/O alone) or a positive speed in GiB/s (4.5)");
  }
  c.kind = Kind::modelled;
  c.gib_per_s = v;
  return c;
}

std::string ComputeSpec::describe() const {
  switch (kind) {
    case Kind::update: return "real update, " + std::to_string(threads) + (threads == 1 ? " thread" : " threads");
    case Kind::modelled: return fmt("modelled %.3g GiB/s", gib_per_s);
    case Kind::none: return "none (I/O alone)";
  }
  return "?";
}

void optimizer_update(std::string_view optimizer, unsigned step, float* params, const std::vector<float*>& states,
                      const float* grad, std::size_t n, unsigned threads) {
  parallel_for(n, threads, [&](std::size_t b, std::size_t e) {
    const std::size_t k = e - b;
    if (optimizer == "adam" || optimizer == "adamw") {
      adam(step, optimizer == "adamw", params + b, states.at(0) + b, states.at(1) + b, grad + b, k);
    } else if (optimizer == "adagrad") {
      adagrad(params + b, states.at(0) + b, grad + b, k);
    } else if (optimizer == "lion") {
      lion(params + b, states.at(0) + b, grad + b, k);
    } else {
      sgd(params + b, states.at(0) + b, grad + b, k);
    }
  });
}

void fill_parameters(float* out, std::size_t n, std::uint64_t seed, unsigned threads) {
  parallel_for(n, threads, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) out[i] = 0.02f * noise(seed, i);
  });
}

void fill_gradient(float* out, std::size_t n, std::uint64_t seed, unsigned threads) {
  parallel_for(n, threads, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) out[i] = 0.001f * noise(seed, i);
  });
}

void modelled_compute(std::uint64_t bytes, double gib_per_s) {
  std::this_thread::sleep_for(std::chrono::duration<double>(static_cast<double>(bytes) / (gib_per_s * (1ull << 30))));
}

}  // namespace swapio::cli
