// The knobs of a transfer, with the meaning of DeepSpeed's async_io harness.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace swapio {

class FaultInjector;

// Which backend moves the bytes. auto: io_uring, else native AIO, else pread/pwrite (and say so).
enum class Engine { automatic, uring, aio, psync };
// O_DIRECT use. auto: where the filesystem supports it, buffered otherwise (and say so);
// on: required, an error where refused; off: buffered.
enum class DirectMode { automatic, on, off };
// Host memory the engine did not allocate (a caller's vector or tensor: scattered 4 KiB pages,
// each request split into many DMA segments) can go through the engine's own contiguous
// staging buffers. auto: stage any memory that is not a HostBuffer; always; never (only
// memory misaligned for direct I/O is staged).
enum class StageMode { automatic, always, never };
// GPUDirect Storage for device memory (swapio/gds.hpp). auto: cuFile where its library loads,
// its driver opens, nvidia-fs is loaded, the file is open with O_DIRECT and registers, else the
// staging ring (and the result says why); on: cuFile (also in its compat mode), an error where it
// cannot run; off: the staging ring.
enum class GdsMode { automatic, on, off };

inline constexpr std::uint64_t kMiB = 1024ull * 1024;
inline constexpr std::uint64_t kGiB = 1024ull * kMiB;
inline constexpr std::uint64_t kMaxBlockSize = kGiB;          // one request's length is 32-bit
inline constexpr unsigned kMaxQueueDepth = 32768;             // IORING_MAX_ENTRIES
inline constexpr unsigned kMaxParallelism = 1024;
inline constexpr std::uint64_t kMinDirectAlign = 512;         // smallest logical block there is
inline constexpr unsigned kMaxDeviceChunks = 4096;

struct Config {
  std::uint64_t block_size = kMiB;     // bytes per request (one SQE)
  unsigned queue_depth = 32;           // most requests in flight per ring
  bool single_submit = false;          // one submit per request instead of one per batch
  bool overlap_events = true;          // sliding window; off: lock-step windows
  unsigned intra_op_parallelism = 1;   // Handle worker threads, one ring each
  Engine engine = Engine::automatic;
  DirectMode direct = DirectMode::automatic;
  bool register_files = true;          // io_uring fixed files where the kernel allows
  bool register_buffers = false;       // io_uring fixed buffers (pins memory: RLIMIT_MEMLOCK)
  StageMode staging = StageMode::automatic;  // copy host memory through contiguous buffers
  // Device (GPU) memory moves through a ring of device_chunks pinned host chunks per worker
  // thread, each device_chunk_size bytes rounded up to whole blocks: pinned memory stays
  // device_chunks x chunk per thread whatever the tensor's size, and the copy of one chunk
  // overlaps the I/O of the others.
  std::uint64_t device_chunk_size = 8 * kMiB;
  unsigned device_chunks = 8;
  GdsMode gds = GdsMode::automatic;
  // Durability of writes. sync: fdatasync before an op reports success. atomic_replace: a
  // write of a whole file (offset 0) goes to a temporary file beside it, which is synced and
  // then renamed over the path (and the folder synced), so that a crash at any point leaves the
  // old content or the new, never a mix. Implies sync.
  bool sync = false;
  bool atomic_replace = false;
  // Tests only: run every request through a fault-injecting decorator (swapio/fault.hpp).
  std::shared_ptr<FaultInjector> faults{};

  // Throws ConfigError naming the value and the rule it breaks (the rules are the knob table's,
  // swapio/knobs.hpp).
  void validate() const;
};

std::string_view to_string(Engine e) noexcept;
std::string_view to_string(DirectMode m) noexcept;
// Parse "auto|uring|aio|psync" / "auto|on|off"; throw ConfigError naming the bad value.
Engine parse_engine(std::string_view s);
DirectMode parse_direct_mode(std::string_view s);
std::string_view to_string(StageMode m) noexcept;
StageMode parse_stage_mode(std::string_view s);
std::string_view to_string(GdsMode m) noexcept;
GdsMode parse_gds_mode(std::string_view s);
// Parse a byte size with an optional K/M/G/T suffix (powers of 1024, "KiB"/"KB"/"K" alike):
// "4096", "64K", "1M", "2GiB". Throws ConfigError for "12Q", "-1", "1.5M", "", overflow.
std::uint64_t parse_size(std::string_view s);

}  // namespace swapio
