// The floor tests: a node profile's workloads through `swapio bench` (worker processes, as users
// run it) beside fio on the same folders in the same run, interleaved rounds, medians; exits 1
// when a floor is not met (naming the workload, the figure and the floor), 2 for bad input.
//
//   swapio_floors --swapio build/perf/swapio --profile fixtures/profiles/any-node.json --folder /nvme
//                 [--ceiling "fio-wrapper args"] [--engines aio,psync] [--rounds N] [--json FILE]
//
// SWAPIO_PERF_DIR (folders, colon-separated), SWAPIO_PERF_PROFILE and SWAPIO_FIO_CEILING in the
// environment take precedence over the flags, so one ctest registration serves every node.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "qualify/floors.hpp"
#include "swapio/error.hpp"

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, sep)) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"swapio floor tests: a node profile's workloads against their floors, fio side by side"};
  swapio::cli::FloorOptions o;
  std::string profile_path, ceiling, engines, json_path;
  unsigned rounds = 0;
  app.add_option("--swapio", o.swapio, "the swapio command to measure")->required();
  app.add_option("--profile", profile_path, "node profile (JSON); env SWAPIO_PERF_PROFILE wins");
  app.add_option("--folder", o.folders, "folder on the device under test, repeatable; env SWAPIO_PERF_DIR (a:b) wins");
  app.add_option("--fio", o.fio.front(), "the fio command")->capture_default_str();
  app.add_option("--ceiling", ceiling,
                 "a command that runs fio with physically contiguous buffers (words split at spaces), or auto: fio "
                 "with this suite's swapio_fio_ceiling preloaded; env SWAPIO_FIO_CEILING wins (empty: no ceiling)");
  bool no_fio = false;
  app.add_flag("--no-fio", no_fio, "do not measure plain fio (floors vs fio are then skipped)");
  app.add_option("--engines", engines, "also measure swapio with these engines, comma-separated (uring,aio,psync)");
  app.add_option("--rounds", rounds, "rounds instead of the profile's");
  app.add_option("--json", json_path, "write the figures as JSON here");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    if (const char* p = env("SWAPIO_PERF_PROFILE")) profile_path = p;
    if (const char* d = env("SWAPIO_PERF_DIR")) o.folders = split(d, ':');
    // Set, even to nothing, the environment wins: empty measures no ceiling.
    if (const char* c = std::getenv("SWAPIO_FIO_CEILING")) ceiling = c;
    if (ceiling == "auto") ceiling = std::string("env LD_PRELOAD=") + SWAPIO_FIO_CEILING_LIBRARY + " fio --iomem=mmap";
    if (profile_path.empty()) throw swapio::ConfigError("no profile: give --profile or SWAPIO_PERF_PROFILE");
    o.ceiling = split(ceiling, ' ');
    for (const std::string& e : split(engines, ',')) o.extra_engines.push_back(swapio::parse_engine(e));
    if (rounds > 0) o.rounds = rounds;
    o.plain_fio = !no_fio;
    o.progress = [](const std::string& line) { std::fprintf(stderr, "  %s\n", line.c_str()); };
    const swapio::cli::Profile profile = swapio::cli::load_profile(profile_path);
    std::printf("profile %s (%s): %s\nfolders:", profile.name.c_str(), profile_path.c_str(), profile.description.c_str());
    for (const auto& f : o.folders) std::printf(" %s", f.c_str());
    std::printf("\nceiling: %s\n", ceiling.empty() ? "not measured (no tool given)" : ceiling.c_str());
    std::fflush(stdout);
    const auto results = swapio::cli::run_floors(profile, o);
    std::fputs(swapio::cli::format_results(profile, results).c_str(), stdout);
    const nlohmann::json j = swapio::cli::results_to_json(profile, results);
    if (!json_path.empty()) {
      std::ofstream out(json_path);
      out << j.dump(2) << "\n";
      if (!out) throw swapio::ConfigError("cannot write " + json_path);
    }
    return j.at("pass").get<bool>() ? 0 : 1;
  } catch (const swapio::ConfigError& e) {
    std::fprintf(stderr, "swapio_floors: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "swapio_floors: %s\n", e.what());
    return 1;
  }
}
