// swapio errors: every failure names what was being done, on which file and range,
// and the errno text. Build the message only on failure.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace swapio {

// An I/O or system-call failure. what() reads like
//   "pwrite /data/x.swp offset 4096 length 1048576: No space left on device (errno 28)"
class Error : public std::system_error {
 public:
  Error(int err, std::string op, std::string path, std::uint64_t offset, std::uint64_t length,
        std::string detail = {});

  int errnum() const noexcept { return code().value(); }
  const std::string& op() const noexcept { return op_; }
  const std::string& path() const noexcept { return path_; }
  std::uint64_t offset() const noexcept { return offset_; }
  std::uint64_t length() const noexcept { return length_; }
  const std::string& detail() const noexcept { return detail_; }

 private:
  std::string op_;
  std::string path_;
  std::uint64_t offset_;
  std::uint64_t length_;
  std::string detail_;
};

// A configuration value that breaks a rule; what() names the value and the rule.
class ConfigError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// The bytes in memory and in the file differ; names the first differing offset.
class ValidationError : public std::runtime_error {
 public:
  ValidationError(const std::string& path, std::uint64_t file_offset, std::uint64_t buffer_offset,
                  unsigned char expected, unsigned char found);
  // A difference described by the caller (what was expected, and from where).
  ValidationError(const std::string& message, std::uint64_t file_offset, std::uint64_t buffer_offset);
  std::uint64_t file_offset() const noexcept { return file_offset_; }
  std::uint64_t buffer_offset() const noexcept { return buffer_offset_; }

 private:
  std::uint64_t file_offset_;
  std::uint64_t buffer_offset_;
};

// Throws swapio::Error for err (a positive errno). Used for system calls (errno) and for
// completion results (-res) alike, so both read the same.
[[noreturn]] void throw_io_error(int err, std::string_view op, std::string_view path,
                                 std::uint64_t offset = 0, std::uint64_t length = 0,
                                 std::string_view detail = {});

// Formats a byte count for people, exactly: "1 MiB", "3 KiB", "511 B", and where it is not a
// whole number of a unit, the count with the rounded figure: "4095 B (4.00 KiB)".
std::string format_bytes(std::uint64_t bytes);

}  // namespace swapio
