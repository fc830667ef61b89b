// What one slice did, merged into the op's OpResult when every slice is done.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace swapio::detail {

struct SliceStats {
  std::uint64_t bytes = 0;
  std::uint64_t requests = 0;
  std::uint64_t resubmits = 0;
  std::uint64_t submit_ns = 0;
  std::uint64_t reap_ns = 0;
  bool staged = false;
  std::uint64_t direct_bytes = 0;  // bytes of the body, moved with O_DIRECT (the buffered edges excluded)
  std::vector<std::uint64_t> latencies_ns;
  std::string note;  // what the op's result should say of this slice ("" when nothing)
};

using Clock = std::chrono::steady_clock;

inline std::uint64_t ns_since(Clock::time_point t) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t).count());
}

}  // namespace swapio::detail
