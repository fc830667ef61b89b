// The compute between a sub-group's swap-in and its swap-out: a real fp32 optimizer update over
// the swapped buffers (the bytes change every step), a modelled speed, or none (I/O alone).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace swapio::cli {

struct ComputeSpec {
  enum class Kind { update, modelled, none };
  Kind kind = Kind::update;
  double gib_per_s = 0;  // modelled: bytes of the sub-group's tensors and gradient per second
  unsigned threads = 1;  // update: threads that share a sub-group
  // "adam" (the real update of the run's optimizer), "none", or a speed in GiB/s ("4.5").
  // Throws ConfigError naming --compute.
  static ComputeSpec parse(std::string_view text);
  std::string describe() const;  // "adam update, 2 threads", "modelled 4.5 GiB/s", "none"
};

// One optimizer step over n elements: params and states (as many as the optimizer has) updated
// in place from grad, with `step` counting from 1 (bias correction). Split over `threads`.
void optimizer_update(std::string_view optimizer, unsigned step, float* params, const std::vector<float*>& states,
                      const float* grad, std::size_t n, unsigned threads);

// Deterministic values: the initial parameters, and a step's gradient of a sub-group.
void fill_parameters(float* out, std::size_t n, std::uint64_t seed, unsigned threads);
void fill_gradient(float* out, std::size_t n, std::uint64_t seed, unsigned threads);

// Sleeps as long as `bytes` take at the modelled speed.
void modelled_compute(std::uint64_t bytes, double gib_per_s);

}  // namespace swapio::cli
