// Small helpers the command's reports share.
#pragma once

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

// Writes a report file; a failure is an I/O error (exit status 1: it comes after a measurement).
inline void write_report(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  if (!out) throw_io_error(EIO, "write report", path);
}

}  // namespace swapio::cli
