#include "swapio/config.hpp"

#include <cctype>
#include <charconv>
#include <limits>
#include <string>
#include <vector>

#include "swapio/error.hpp"

namespace swapio {

namespace {

// The words of a choice: each value's first word is the one it is shown as; every word is read.
template <typename E>
struct Word {
  E value;
  std::string_view word;
};

constexpr Word<Engine> kEngines[] = {{Engine::automatic, "auto"}, {Engine::uring, "uring"}, {Engine::uring, "io_uring"},
                                     {Engine::aio, "aio"},        {Engine::aio, "libaio"},  {Engine::psync, "psync"}};
constexpr Word<DirectMode> kDirectModes[] = {
    {DirectMode::automatic, "auto"}, {DirectMode::on, "on"}, {DirectMode::off, "off"}};
constexpr Word<StageMode> kStageModes[] = {
    {StageMode::automatic, "auto"}, {StageMode::always, "always"}, {StageMode::never, "never"}};
constexpr Word<GdsMode> kGdsModes[] = {{GdsMode::automatic, "auto"}, {GdsMode::on, "on"},     {GdsMode::on, "true"},
                                       {GdsMode::off, "off"},        {GdsMode::off, "false"}};

template <typename E, std::size_t N>
std::string_view shown(const Word<E> (&words)[N], E value) noexcept {
  for (const Word<E>& w : words) {
    if (w.value == value) return w.word;
  }
  return "?";
}

// Throws ConfigError "<what> 'x' is unknown: use auto, on or off" (each value's shown word).
template <typename E, std::size_t N>
E parse_word(const Word<E> (&words)[N], std::string_view s, const char* what) {
  for (const Word<E>& w : words) {
    if (w.word == s) return w.value;
  }
  std::vector<std::string_view> choices;
  for (const Word<E>& w : words) {
    if (shown(words, w.value) == w.word) choices.push_back(w.word);
  }
  std::string use;
  for (std::size_t k = 0; k < choices.size(); ++k) {
    use += (k == 0 ? "" : k + 1 == choices.size() ? " or " : ", ") + std::string(choices[k]);
  }
  throw ConfigError(std::string(what) + " '" + std::string(s) + "' is unknown: use " + use);
}

}  // namespace

std::string_view to_string(Engine e) noexcept { return shown(kEngines, e); }
std::string_view to_string(DirectMode m) noexcept { return shown(kDirectModes, m); }
std::string_view to_string(StageMode m) noexcept { return shown(kStageModes, m); }
std::string_view to_string(GdsMode m) noexcept { return shown(kGdsModes, m); }
Engine parse_engine(std::string_view s) { return parse_word(kEngines, s, "engine"); }
DirectMode parse_direct_mode(std::string_view s) { return parse_word(kDirectModes, s, "direct mode"); }
StageMode parse_stage_mode(std::string_view s) { return parse_word(kStageModes, s, "staging mode"); }
GdsMode parse_gds_mode(std::string_view s) { return parse_word(kGdsModes, s, "gds mode"); }

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
