#include "swapio/config.hpp"

#include <cctype>
#include <charconv>
#include <limits>

#include "swapio/error.hpp"

namespace swapio {

std::string_view to_string(StageMode m) noexcept {
  switch (m) {
    case StageMode::automatic: return "auto";
    case StageMode::always: return "always";
    case StageMode::never: return "never";
  }
  return "?";
}

StageMode parse_stage_mode(std::string_view s) {
  if (s == "auto") return StageMode::automatic;
  if (s == "always") return StageMode::always;
  if (s == "never") return StageMode::never;
  throw ConfigError("staging mode '" + std::string(s) + "' is unknown: use auto, always or never");
}

std::string_view to_string(GdsMode m) noexcept {
  switch (m) {
    case GdsMode::automatic: return "auto";
    case GdsMode::on: return "on";
    case GdsMode::off: return "off";
  }
  return "?";
}

GdsMode parse_gds_mode(std::string_view s) {
  if (s == "auto") return GdsMode::automatic;
  if (s == "on" || s == "true") return GdsMode::on;
  if (s == "off" || s == "false") return GdsMode::off;
  throw ConfigError("gds mode '" + std::string(s) + "' is unknown: use auto, on or off");
}

std::string_view to_string(Engine e) noexcept {
  switch (e) {
    case Engine::automatic: return "auto";
    case Engine::uring: return "uring";
    case Engine::aio: return "aio";
    case Engine::psync: return "psync";
  }
  return "?";
}

std::string_view to_string(DirectMode m) noexcept {
  switch (m) {
    case DirectMode::automatic: return "auto";
    case DirectMode::on: return "on";
    case DirectMode::off: return "off";
  }
  return "?";
}

Engine parse_engine(std::string_view s) {
  if (s == "auto") return Engine::automatic;
  if (s == "uring" || s == "io_uring") return Engine::uring;
  if (s == "aio" || s == "libaio") return Engine::aio;
  if (s == "psync") return Engine::psync;
  throw ConfigError("engine '" + std::string(s) + "' is unknown: use auto, uring, aio or psync");
}

DirectMode parse_direct_mode(std::string_view s) {
  if (s == "auto") return DirectMode::automatic;
  if (s == "on") return DirectMode::on;
  if (s == "off") return DirectMode::off;
  throw ConfigError("direct mode '" + std::string(s) + "' is unknown: use auto, on or off");
}

std::uint64_t parse_size(std::string_view s) {
  const std::string shown(s);
  auto bad = [&](const char* why) -> ConfigError {
    return ConfigError("size '" + shown + "' is invalid: " + why);
  };
  if (s.empty()) throw bad("empty");
  if (!std::isdigit(static_cast<unsigned char>(s.front()))) {
    throw bad("it must start with a digit (a whole number with an optional K, M, G or T suffix)");
  }
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec == std::errc::result_out_of_range) throw bad("too large");
  std::string_view suffix(end, static_cast<std::size_t>(s.data() + s.size() - end));
  if (!suffix.empty() && (suffix.front() == '.' || suffix.front() == ',')) {
    throw bad("fractions are not accepted (a whole number of bytes, K, M, G or T: 1536K, not 1.5M)");
  }
  // The suffix in any case: B, K, KB, KiB, ... T, TB, TiB (all powers of 1024).
  std::string unit;
  for (char c : suffix) unit += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  unsigned shift = 0;
  if (!unit.empty() && unit != "b") {
    const std::string_view units = "kmgt";
    const std::size_t u = units.find(unit.front());
    const std::string_view rest = std::string_view(unit).substr(1);
    if (u == std::string_view::npos || !(rest.empty() || rest == "b" || rest == "ib")) {
      throw bad("unknown suffix (use K, M, G or T, powers of 1024; whole numbers only)");
    }
    shift = 10 * static_cast<unsigned>(u + 1);
  }
  if (shift != 0 && value > (std::numeric_limits<std::uint64_t>::max() >> shift)) throw bad("too large");
  return value << shift;
}

}  // namespace swapio
