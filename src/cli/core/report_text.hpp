// Small helpers the command's reports share.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <string>

#include "swapio/error.hpp"

namespace swapio::cli {

// printf-style formatting of one number: fmt("%.2f GiB/s", 1.5).
inline std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// Writes a report file whole or not at all: to a temporary beside it, renamed over it, so that a
// failure (a full disk) never leaves an earlier report emptied or cut short. A failure is a
// swapio::Error with the call's errno (exit status 1: it comes after a measurement).
inline void write_report(const std::string& path, const std::string& text) {
  const std::string temp = path + ".swapio-" + std::to_string(::getpid()) + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw_io_error(errno, "write report", path);
  std::size_t done = 0;
  int err = 0;
  while (done < text.size() && err == 0) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n > 0) done += static_cast<std::size_t>(n);
    else if (n < 0 && errno != EINTR) err = errno;
  }
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && ::rename(temp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(temp.c_str());
    throw_io_error(err, "write report", path);
  }
}

}  // namespace swapio::cli
