#include "swapio/detail/staging_ring.hpp"

#include <cerrno>

#include "swapio/buffer.hpp"
#include "swapio/error.hpp"

namespace swapio::detail {

bool stage_host_memory(StageMode mode, const File& file, const std::byte* buf, std::uint64_t length) {
  if (!file.direct()) return false;  // scattered pages only cost with direct I/O
  return mode == StageMode::always ||
         (mode == StageMode::automatic && !is_host_buffer_memory(buf, static_cast<std::size_t>(length)));
}

StagingRing::StagingRing(Direction direction, const Plan& plan, const RingLayout& ring, std::byte* base,
                         std::byte* user, DeviceStream& copier, const std::string& path)
    : direction_(direction), plan_(plan), ring_(ring), base_(base), user_(user), copier_(copier), path_(path),
      positions_(ring.chunks) {}

// Enqueues the copies of chunk c between staging and the caller's memory: one copy when the
// chunk's requests lie back to back in staging as in the caller's memory, else one each.
void StagingRing::copy_chunk(std::uint64_t c) {
  const std::uint64_t first = c * ring_.per_chunk, n = chunk_requests(c);
  const bool contiguous = ring_.request_stride == plan_.block_size;
  for (std::uint64_t i = first; i < first + n;) {
    const std::uint64_t count = contiguous ? n : 1;
    std::uint64_t bytes = 0;
    for (std::uint64_t k = i; k < i + count; ++k) bytes += plan_.request_length(k);
    if (direction_ == Direction::write) copier_.copy_to_host(memory_of(i), user_of(i), static_cast<std::size_t>(bytes));
    else copier_.copy_to_device(user_of(i), memory_of(i), static_cast<std::size_t>(bytes));
    i += count;
  }
  position(c).ticket = copier_.record();
  copies_.push_back(c);
}

bool StagingRing::ready(std::uint64_t index) {
  const std::uint64_t c = index / ring_.per_chunk;
  Position& p = position(c);
  if (direction_ == Direction::write) {
    prefetch();
    return p.chunk == c && p.state == State::ready;
  }
  if (p.state == State::free) {
    p = Position{State::io, c, 0, 0};
    return true;
  }
  return p.chunk == c && p.state == State::io;
}

void StagingRing::prefetch() {
  while (opened_ < chunk_count() && position(opened_).state == State::free) {
    position(opened_) = Position{State::filling, opened_, 0, 0};
    copy_chunk(opened_++);
  }
}

void StagingRing::copy_done(std::uint64_t c) {
  position(c).state = direction_ == Direction::write ? State::ready : State::free;
}

void StagingRing::poll() {
  // Copies finish in order.
  while (!copies_.empty() && copier_.done(position(copies_.front()).ticket)) {
    copy_done(copies_.front());
    copies_.pop_front();
  }
  if (direction_ == Direction::write) prefetch();
}

void StagingRing::await() {
  if (copies_.empty()) {
    throw_io_error(EIO, std::string(to_string(direction_)), path_, plan_.body_begin, plan_.body_length(),
                   "staging ring stalled with no copy running");
  }
  copier_.wait(position(copies_.front()).ticket);
  copy_done(copies_.front());
  copies_.pop_front();
}

void StagingRing::request_done(std::uint64_t index) {
  const std::uint64_t c = index / ring_.per_chunk;
  Position& p = position(c);
  if (++p.finished < chunk_requests(c)) return;
  if (direction_ == Direction::write) {
    p.state = State::free;
  } else {
    p.state = State::copying;
    copy_chunk(c);
  }
}

void StagingRing::finish() {
  while (!copies_.empty()) await();
}

}  // namespace swapio::detail
