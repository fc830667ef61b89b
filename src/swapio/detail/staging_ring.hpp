// The staging ring of one slice: memory the backend cannot use as is (device memory, and host
// memory that is misaligned or would be scattered pages) moves through `chunks` positions of
// aligned host memory. A read's chunk is copied out to the caller's memory once all of its
// requests are done, and its position is reused only when that copy completed; a write copies
// chunks in ahead, as far as the ring allows, and a chunk's requests go only when its copy
// completed. The copies run on a DeviceStream (the device's, or a host copy thread's), so they
// overlap the I/O of the other chunks.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "swapio/config.hpp"
#include "swapio/detail/plan.hpp"
#include "swapio/device.hpp"
#include "swapio/file.hpp"
#include "swapio/tensor.hpp"

namespace swapio::detail {

// Whether host memory at buf goes through the ring although the backend could use it: only
// with direct I/O (buffered I/O copies through the page cache anyway), for memory swapio did not
// allocate (StageMode::automatic) or always.
bool stage_host_memory(StageMode mode, const File& file, const std::byte* buf, std::uint64_t length);

class StagingRing {
 public:
  // user: the slice's memory (host or device); base: ring.bytes() of aligned staging memory.
  StagingRing(Direction direction, const Plan& plan, const RingLayout& ring, std::byte* base, std::byte* user,
              DeviceStream& copier, const std::string& path);

  // Where request `index` moves its bytes.
  std::byte* memory_of(std::uint64_t index) const noexcept { return base_ + ring_.offset_of(index); }
  // Whether request `index` may start; opens its chunk when the position is free.
  bool ready(std::uint64_t index);
  // Moves chunks whose copies finished on, without blocking.
  void poll();
  // Blocks for the oldest copy still running; throws swapio::Error when none is (a stall).
  void await();
  // Request `index` finished.
  void request_done(std::uint64_t index);
  // A read's last chunks reach the caller.
  void finish();
  // No copy outlives the slice, however it ends. Never throws.
  void drain() noexcept { copier_.drain(); }

 private:
  struct Position {
    enum class State {
      free,     // holds nothing in progress
      filling,  // write: the copy from the caller's memory is running
      ready,    // write: copied in; its requests may go
      io,       // read: its requests are in flight or done
      copying,  // read: the copy out to the caller's memory is running
    };
    State state = State::free;
    std::uint64_t chunk = 0;
    std::uint64_t ticket = 0;
    std::uint64_t finished = 0;  // requests of the chunk completed
  };
  using State = Position::State;

  std::uint64_t chunk_count() const noexcept { return (plan_.requests() + ring_.per_chunk - 1) / ring_.per_chunk; }
  std::uint64_t chunk_requests(std::uint64_t c) const noexcept {
    return std::min(ring_.per_chunk, plan_.requests() - c * ring_.per_chunk);
  }
  Position& position(std::uint64_t c) noexcept { return positions_[c % ring_.chunks]; }
  std::byte* user_of(std::uint64_t index) const noexcept { return user_ + (plan_.request_offset(index) - plan_.offset); }
  void copy_chunk(std::uint64_t c);
  void prefetch();
  void copy_done(std::uint64_t c);

  Direction direction_;
  const Plan& plan_;
  RingLayout ring_;
  std::byte* base_;
  std::byte* user_;
  DeviceStream& copier_;
  const std::string& path_;
  std::vector<Position> positions_;
  std::deque<std::uint64_t> copies_;  // chunks whose copies run, oldest first
  std::uint64_t opened_ = 0;          // a write's next chunk to copy in
};

}  // namespace swapio::detail
