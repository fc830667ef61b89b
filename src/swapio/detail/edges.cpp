#include "swapio/detail/edges.hpp"

#include <algorithm>

namespace swapio::detail {

void move_edge(const File& file, Direction direction, std::byte* mem, std::uint64_t offset, std::uint64_t length,
               SliceStats& stats) {
  if (length == 0) return;
  const auto t = Clock::now();
  if (direction == Direction::write) pwrite_exact(file.edge_fd(), mem, length, offset, file.name());
  else pread_exact(file.edge_fd(), mem, length, offset, file.name());
  stats.latencies_ns.push_back(ns_since(t));
  stats.bytes += length;
  ++stats.requests;
}

void move_device_edge(const File& file, Direction direction, DeviceStream& stream, std::byte* bounce,
                      std::size_t bounce_bytes, std::byte* device_mem, std::uint64_t offset, std::uint64_t length,
                      SliceStats& stats) {
  if (length == 0) return;
  const auto t = Clock::now();
  for (std::uint64_t pos = 0; pos < length;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(bounce_bytes, length - pos));
    if (direction == Direction::write) {
      stream.copy_to_host(bounce, device_mem + pos, n);
      stream.wait(stream.record());
      pwrite_exact(file.edge_fd(), bounce, n, offset + pos, file.name());
    } else {
      pread_exact(file.edge_fd(), bounce, n, offset + pos, file.name());
      stream.copy_to_device(device_mem + pos, bounce, n);
      stream.wait(stream.record());
    }
    pos += n;
  }
  stats.latencies_ns.push_back(ns_since(t));
  stats.bytes += length;
  ++stats.requests;
}

}  // namespace swapio::detail
