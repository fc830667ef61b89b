#include "swapio/config.hpp"

#include <cctype>
#include <charconv>
#include <limits>

#include "swapio/error.hpp"

namespace swapio {

void Config::validate() const {
  if (block_size == 0) throw ConfigError("block_size 0 is invalid: it must be at least 1 byte");
  if (block_size > kMaxBlockSize) {
    throw ConfigError("block_size " + std::to_string(block_size) + " is too large: at most " +
                      std::to_string(kMaxBlockSize) + " (1 GiB) per request");
  }
  if (direct == DirectMode::on && block_size % kMinDirectAlign != 0) {
    throw ConfigError("block_size " + std::to_string(block_size) +
                      " is not a multiple of the direct-I/O alignment (512 bytes at least) "
                      "required by direct=on");
  }
  if (queue_depth == 0) throw ConfigError("queue_depth 0 is invalid: at least 1 request must be in flight");
  if (queue_depth > kMaxQueueDepth) {
    throw ConfigError("queue_depth " + std::to_string(queue_depth) +
                      " is beyond what an io_uring ring allows (" + std::to_string(kMaxQueueDepth) + ")");
  }
  if (intra_op_parallelism == 0) {
    throw ConfigError("intra_op_parallelism 0 is invalid: a handle needs at least 1 thread");
  }
  if (intra_op_parallelism > kMaxParallelism) {
    throw ConfigError("intra_op_parallelism " + std::to_string(intra_op_parallelism) +
                      " is too large: at most " + std::to_string(kMaxParallelism) + " threads");
  }
  if (device_chunk_size == 0 || device_chunk_size > kMaxBlockSize) {
    throw ConfigError("device_chunk_size " + std::to_string(device_chunk_size) +
                      " is invalid: it must be between 1 byte and 1 GiB");
  }
  if (device_chunks < 2 || device_chunks > kMaxDeviceChunks) {
    throw ConfigError("device_chunks " + std::to_string(device_chunks) + " is invalid: between 2 (so that a copy " +
                      "overlaps the I/O) and " + std::to_string(kMaxDeviceChunks));
  }
}

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
