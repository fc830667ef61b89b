// libFuzzer target: swapio::parse_size against a reference written from its documented grammar:
// digits, then an optional K/M/G/T (powers of 1024), then an optional B or iB, any case.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "swapio/config.hpp"
#include "swapio/error.hpp"

namespace {

std::optional<std::uint64_t> reference(std::string_view s) {
  std::size_t i = 0;
  unsigned __int128 value = 0;
  bool too_large = false;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    value = value * 10 + static_cast<unsigned>(s[i] - '0');
    if (value > UINT64_MAX) too_large = true, value = static_cast<unsigned __int128>(UINT64_MAX) + 1;
    ++i;
  }
  if (i == 0) return std::nullopt;
  std::string suffix;
  for (char c : s.substr(i)) suffix += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  unsigned shift = 0;
  if (!suffix.empty() && suffix != "b") {
    const std::string_view units = "kmgt";
    const std::size_t u = units.find(suffix[0]);
    if (u == std::string_view::npos) return std::nullopt;
    const std::string rest = suffix.substr(1);
    if (!(rest.empty() || rest == "b" || rest == "ib")) return std::nullopt;
    shift = 10 * static_cast<unsigned>(u + 1);
  }
  if (too_large) return std::nullopt;
  value <<= shift;
  if (value > UINT64_MAX) return std::nullopt;
  return static_cast<std::uint64_t>(value);
}

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::optional<std::uint64_t> expected = reference(text);
  std::optional<std::uint64_t> got;
  std::string error;
  try {
    got = swapio::parse_size(text);
  } catch (const swapio::ConfigError& e) {
    error = e.what();
    if (error.find("size '") != 0) finding("error does not name the size: " + error);
  }
  if (got != expected) {
    finding("parse_size('" + std::string(text) + "') = " + (got ? std::to_string(*got) : "error (" + error + ")") +
            ", reference " + (expected ? std::to_string(*expected) : "error"));
  }
  return 0;
}
