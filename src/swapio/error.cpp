#include "swapio/error.hpp"

#include <cstdio>
#include <cstring>

namespace swapio {
namespace {

std::string describe(const std::string& op, const std::string& path, std::uint64_t offset,
                     std::uint64_t length, const std::string& detail) {
  std::string msg = op;
  if (!path.empty()) msg += " " + path;
  if (length != 0 || offset != 0) {
    msg += " offset " + std::to_string(offset) + " length " + std::to_string(length);
  }
  if (!detail.empty()) msg += " (" + detail + ")";
  return msg;
}

}  // namespace

Error::Error(int err, std::string op, std::string path, std::uint64_t offset, std::uint64_t length,
             std::string detail)
    : std::system_error(err, std::generic_category(),
                        describe(op, path, offset, length, detail)),
      op_(std::move(op)),
      path_(std::move(path)),
      offset_(offset),
      length_(length),
      detail_(std::move(detail)) {}

ValidationError::ValidationError(const std::string& path, std::uint64_t file_offset,
                                 std::uint64_t buffer_offset, unsigned char expected,
                                 unsigned char found)
    : std::runtime_error([&] {
        char tail[128];
        std::snprintf(tail, sizeof tail, ": memory has 0x%02x, file has 0x%02x", expected, found);
        return "validation of " + path + " failed: first difference at file offset " +
               std::to_string(file_offset) + " (buffer byte " + std::to_string(buffer_offset) + ")" +
               tail;
      }()),
      file_offset_(file_offset),
      buffer_offset_(buffer_offset) {}

ValidationError::ValidationError(const std::string& message, std::uint64_t file_offset, std::uint64_t buffer_offset)
    : std::runtime_error(message), file_offset_(file_offset), buffer_offset_(buffer_offset) {}

void throw_io_error(int err, std::string_view op, std::string_view path, std::uint64_t offset,
                    std::uint64_t length, std::string_view detail) {
  throw Error(err, std::string(op), std::string(path), offset, length, std::string(detail));
}

std::string format_bytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  std::uint64_t whole = bytes;
  while (unit < 4 && whole >= 1024 && whole % 1024 == 0) {
    whole /= 1024;
    ++unit;
  }
  if (whole < 1024) return std::to_string(whole) + " " + kUnits[unit];  // exact: "4 KiB", "1 MiB", "511 B"
  // Not round: the exact count, and the rounded figure beside it ("4095 B (4.00 KiB)").
  double v = static_cast<double>(bytes);
  unit = 0;
  while (unit < 4 && v >= 1024.0) {
    v /= 1024.0;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f %s", v, kUnits[unit]);
  return std::to_string(bytes) + " B (" + buf + ")";
}

}  // namespace swapio
