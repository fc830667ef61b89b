// Small helpers the command's reports share.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "swapio/detail/temp_file.hpp"
#include "swapio/error.hpp"

namespace swapio::cli {

// printf-style formatting of one number: fmt("%.2f GiB/s", 1.5).
inline std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// The median of v (0 when empty): what floors, the fleet rule and tune compare.
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Text for an XML attribute or element.
inline std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

// Writes a report file whole or not at all, the way atomic_replace writes a tensor's file: to
// the library's temporary beside it (detail::create_temp_beside), renamed over it (through a
// symbolic link, the file it names), so that a failure (a full disk) never leaves an earlier
// report emptied or cut short; the temporary goes on every failure. A failure is a
// swapio::Error with the call's errno (exit status 1: it comes after a measurement).
inline void write_report(const std::string& path, const std::string& text) {
  const std::string target = detail::replacement_target(path);
  detail::TempFile temp = detail::create_temp_beside(target);
  const int fd = ::open(temp.path().c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) throw_io_error(errno, "write report", path);
  std::size_t done = 0;
  int err = 0;
  while (done < text.size() && err == 0) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n > 0) done += static_cast<std::size_t>(n);
    else if (n < 0 && errno != EINTR) err = errno;
  }
  if (err == 0) {
    try {
      temp.commit(fd, target);
    } catch (...) {
      ::close(fd);
      throw;
    }
  }
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) throw_io_error(err, "write report", path);
}

}  // namespace swapio::cli
