// swapio-roundtrip: write a tensor-sized buffer to a file through a Handle, read it back,
// check every byte, and print GiB/s for each direction (GiB = 2^30 bytes).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "swapio/swapio.hpp"

namespace {

void fill_pattern(std::span<std::byte> buf, std::uint64_t seed) {
  std::uint64_t x = seed;
  std::size_t i = 0;
  for (; i + 8 <= buf.size(); i += 8) {
    x += 0x9e3779b97f4a7c15ull;
    std::uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    std::memcpy(buf.data() + i, &z, 8);
  }
  for (; i < buf.size(); ++i) buf[i] = static_cast<std::byte>(i * 131 + seed);
}

nlohmann::json to_json(const swapio::OpResult& r) {
  const auto lat = r.latency();
  return {{"op", r.write ? "write" : "read"},
          {"bytes", r.bytes},
          {"seconds", r.seconds},
          {"gib_per_s", r.gib_per_s()},
          {"engine", r.engine},
          {"engine_note", r.engine_note},
          {"direct", r.direct},
          {"direct_note", r.direct_note},
          {"staged", r.staged},
          {"preallocated", r.preallocated},
          {"threads", r.threads},
          {"requests", r.requests},
          {"resubmits", r.resubmits},
          {"submit_seconds", r.submit_seconds},
          {"reap_seconds", r.reap_seconds},
          {"latency_us", {{"p50", lat.p50_us}, {"p99", lat.p99_us}, {"p99.9", lat.p999_us}, {"max", lat.max_us}}},
          {"validated", r.validated}};
}

void print_line(const swapio::OpResult& r) {
  const auto lat = r.latency();
  std::printf("%-5s %10s in %8.4f s  %7.3f GiB/s  engine=%s direct=%s  p50 %.0f us  p99 %.0f us  p99.9 %.0f us%s\n",
              r.write ? "write" : "read", swapio::format_bytes(r.bytes).c_str(), r.seconds, r.gib_per_s(),
              r.engine.c_str(), r.direct ? "yes" : "no", lat.p50_us, lat.p99_us, lat.p999_us,
              r.validated ? "  validated" : "");
  if (!r.direct_note.empty()) std::printf("      note: %s\n", r.direct_note.c_str());
  if (!r.engine_note.empty()) std::printf("      note: %s\n", r.engine_note.c_str());
}

// The command line, as given.
struct Args {
  std::string size_text = "1G", block_text = "1M", folder = ".", engine = "auto", direct = "auto";
  unsigned queue_depth = 32, parallel = 1, loops = 1;
  bool keep = false, json = false, validate = false, sequential = false, single_submit = false;
};

void add_options(CLI::App& app, Args& a) {
  app.add_option("--size", a.size_text, "bytes to write and read back (K/M/G suffixes, powers of 1024)")
      ->capture_default_str();
  app.add_option("--folder", a.folder, "folder for the file (one on the NVMe device under test)")->capture_default_str();
  app.add_option("--block-size", a.block_text, "bytes per I/O request")->capture_default_str();
  app.add_option("--queue-depth", a.queue_depth, "most requests in flight per ring")->capture_default_str();
  app.add_option("--io-parallel", a.parallel, "handle threads; each op is split into one slice per thread")
      ->capture_default_str();
  app.add_option("--loops", a.loops, "write+read rounds")->capture_default_str();
  app.add_option("--engine", a.engine, "auto | uring | psync")->capture_default_str();
  app.add_option("--direct", a.direct, "O_DIRECT: auto | on | off")->capture_default_str();
  app.add_flag("--single-submit", a.single_submit, "one submit call per request instead of one per batch");
  app.add_flag("--sequential-requests", a.sequential, "lock-step windows instead of the sliding window");
  app.add_flag("--validate", a.validate, "also check the file against an independent buffered read");
  app.add_flag("--keep", a.keep, "keep the file afterwards");
  app.add_flag("--json", a.json, "print one JSON document instead of text");
}

// The Handle's settings from the arguments; throws on a bad one.
swapio::Config make_config(const Args& a) {
  swapio::Config config;
  config.block_size = swapio::parse_size(a.block_text);
  config.queue_depth = a.queue_depth;
  config.intra_op_parallelism = a.parallel;
  config.engine = swapio::parse_engine(a.engine);
  config.direct = swapio::parse_direct_mode(a.direct);
  config.single_submit = a.single_submit;
  config.overlap_events = !a.sequential;
  config.validate();
  return config;
}

// Writes and reads back `size` bytes at path, `loops` times, checking every byte each round;
// prints each op (or adds it to the report's runs with --json).
void round_trips(const Args& a, const swapio::Config& config, std::uint64_t size, const std::string& path,
                 nlohmann::json& report) {
  swapio::HostBuffer out(size), in(size);
  fill_pattern(out.span(), 42);
  swapio::Handle handle(config);
  if (!a.json) {
    std::printf("swapio-roundtrip: %s to %s, block %s, queue depth %u, %u thread(s)\n",
                swapio::format_bytes(size).c_str(), path.c_str(), swapio::format_bytes(config.block_size).c_str(),
                config.queue_depth, config.intra_op_parallelism);
  }
  for (unsigned loop = 0; loop < a.loops; ++loop) {
    std::memset(in.data(), 0, in.size());
    const swapio::OpResult w = handle.pwrite(out.span(), path, 0, a.validate);
    const swapio::OpResult r = handle.pread(in.span(), path, 0, a.validate);
    if (std::memcmp(out.data(), in.data(), size) != 0) {
      throw std::runtime_error("read-back differs from what was written to " + path);
    }
    if (a.json) {
      report["runs"].push_back(to_json(w));
      report["runs"].push_back(to_json(r));
    } else {
      print_line(w);
      print_line(r);
    }
  }
  if (!a.json) std::printf("read-back matches: %s checked\n", swapio::format_bytes(size).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Write a buffer to a file with swapio, read it back, check every byte, print GiB/s "
               "(GiB/s = 2^30 bytes per second)."};
  Args a;
  add_options(app, a);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  swapio::Config config;
  std::uint64_t size = 0;
  try {
    size = swapio::parse_size(a.size_text);
    config = make_config(a);
    if (size == 0) throw swapio::ConfigError("--size 0: nothing to move");
    if (a.loops == 0) throw swapio::ConfigError("--loops 0: at least one round");
    if (!std::filesystem::is_directory(a.folder)) throw swapio::ConfigError("--folder " + a.folder + ": not a directory");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "swapio-roundtrip: %s\n", e.what());
    return 2;
  }

  const std::string path =
      (std::filesystem::path(a.folder) / ("swapio-roundtrip." + std::to_string(::getpid()) + ".swp")).string();
  nlohmann::json report = {{"size", size},
                           {"block_size", config.block_size},
                           {"queue_depth", config.queue_depth},
                           {"io_parallel", config.intra_op_parallelism},
                           {"single_submit", config.single_submit},
                           {"overlap_events", config.overlap_events},
                           {"path", path},
                           {"runs", nlohmann::json::array()}};
  int status = 0;
  try {
    round_trips(a, config, size, path, report);
  } catch (const swapio::ConfigError& e) {
    std::fprintf(stderr, "swapio-roundtrip: %s\n", e.what());
    status = 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "swapio-roundtrip: %s\n", e.what());
    status = 1;
  }
  if (!a.keep) std::filesystem::remove(path);
  if (a.json) std::cout << report.dump(2) << "\n";
  return status;
}
