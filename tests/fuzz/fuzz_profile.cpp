// libFuzzer target: the node-profile reader. Any text either parses into a profile that keeps
// the reader's promises or is refused with a ConfigError naming the profile; nothing else
// (another exception, a crash, a leak) is acceptable.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "qualify/profile.hpp"
#include "swapio/error.hpp"

namespace {

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  std::abort();
}

void check(const swapio::cli::Profile& p) {
  if (p.name.empty()) finding("accepted a profile without a name");
  if (p.rounds < 1 || p.rounds > 1000) finding("accepted rounds " + std::to_string(p.rounds));
  if (p.workloads.empty()) finding("accepted a profile without workloads");
  std::set<std::string> names;
  for (const auto& w : p.workloads) {
    if (w.name.empty() || !names.insert(w.name).second) finding("accepted a missing or repeated workload name");
    if (w.size == 0) finding("accepted size 0 in " + w.name);
    if (!w.floor_gib_per_s && !w.floor_vs_fio && !w.floor_vs_ceiling) finding("accepted " + w.name + " without a floor");
    w.config.validate();  // throws (a finding: uncaught) when the reader let a bad value through
    if (w.processes < 1 || w.processes > 256) finding("accepted processes " + std::to_string(w.processes));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    check(swapio::cli::parse_profile_text(text, "fuzz.json"));
  } catch (const swapio::ConfigError& e) {
    if (std::string_view(e.what()).find("profile fuzz.json") != 0) finding(std::string("error does not name the profile: ") + e.what());
  }
  return 0;
}
