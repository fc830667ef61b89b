// A worker process's side of its pipes: JSON-line events to the parent (descriptor 3) and the
// parent's barriers (descriptor 4, one byte each). A worker whose parent is gone exits quietly.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

namespace swapio::cli::worker_channel {

inline constexpr int kReportFd = 3;
inline constexpr int kControlFd = 4;

// Sends one event line to the parent.
inline void report(const nlohmann::json& event) {
  const std::string line = event.dump() + "\n";
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(kReportFd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) std::_Exit(3);  // the parent is gone: nobody to report to
    done += static_cast<std::size_t>(n);
  }
}

// Blocks until the parent releases the barrier.
inline void barrier() {
  char go = 0;
  for (;;) {
    const ssize_t n = ::read(kControlFd, &go, 1);
    if (n == 1) return;
    if (n < 0 && errno == EINTR) continue;
    std::_Exit(3);
  }
}

}  // namespace swapio::cli::worker_channel
