// What one operation did: bytes, time, which engine ran, whether O_DIRECT was used, and the
// latency of every request. GiB/s means 2^30 bytes per second.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace swapio {

struct LatencySummary {
  std::size_t count = 0;
  double mean_us = 0, p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
};

// Nearest-rank percentiles of latencies in nanoseconds (sorts a copy).
LatencySummary summarize_latencies(std::vector<std::uint64_t> latencies_ns);

struct OpResult {
  bool write = false;
  std::string path;
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;
  double seconds = 0;           // from the call to the last completion, and the sync when asked (validation excluded)
  std::string engine;           // "uring", "aio" or "psync"
  std::string engine_note;      // why auto fell back, features the kernel refused
  bool direct = false;          // O_DIRECT used for the aligned body
  std::string direct_note;      // why not, when direct was wanted
  bool staged = false;          // some requests went through aligned staging memory
  std::string device;           // the device whose memory it was ("" for host memory)
  bool gds = false;             // device memory: the body moved by GPUDirect Storage (cuFile)
  std::string gds_note;         // device memory: why not (gds=auto fell back), or cuFile's compat mode
  bool preallocated = false;    // fallocate reserved the written range
  unsigned threads = 1;         // slices run in parallel
  std::uint64_t requests = 0;   // requests completed (resubmissions excluded)
  std::uint64_t resubmits = 0;  // short transfers resumed, EINTR/EAGAIN retried
  double submit_seconds = 0;    // summed over threads
  double reap_seconds = 0;      // summed over threads
  std::vector<std::uint64_t> latencies_ns;  // one per request: first submit to last completion
  bool validated = false;       // checked against an independent read, and equal
  bool synced = false;          // fdatasync'd before success was reported (sync, atomic_replace)
  bool replaced = false;        // written to a temporary and renamed over the path (atomic_replace)

  double gib_per_s() const noexcept;
  LatencySummary latency() const { return summarize_latencies(latencies_ns); }
};

}  // namespace swapio
