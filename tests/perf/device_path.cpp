// The GPU path against the host path, side by side: the same Handle settings move a tensor in
// host memory and one in (emulated or CUDA) device memory. This disk's speed drifts by up to 2x
// between ops, so each round runs the pair back to back (order alternating per round) and the
// figure compared is the median of the rounds' device/host ratios. Exits 1 when that median is
// below the floor, 2 for bad input.
//
//   swapio_device_path_bench [--folder DIR] [--size 1G] [--rounds 7] [--floor 0.9]
//                            [--device emulated|cuda|cuda:N] [--device-chunk-size 8M]
//                            [--device-chunks 8] [--json FILE]
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "swapio/swapio.hpp"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string join(const std::vector<double>& v) {
  std::string s;
  char buf[32];
  for (double x : v) {
    std::snprintf(buf, sizeof buf, "%s%.2f", s.empty() ? "" : " ", x);
    s += buf;
  }
  return s;
}

// The command line: where, how much, how often, which device and ring, and the floor.
struct Options {
  std::string folder = ".", size_text = "1G", device_spec = "emulated", json_path;
  unsigned rounds = 9;
  double floor = 0.9;
  swapio::Config config;  // the defaults (what users get) unless the ring is set here
  std::string chunk_text = std::to_string(config.device_chunk_size);
};

// Parses argv into `o`; returns the exit status when the command ends here (--help, bad input).
std::optional<int> parse_options(int argc, char** argv, Options& o) {
  CLI::App app{"GPU path vs host path, interleaved rounds, medians (GiB/s = 2^30 bytes/s)"};
  app.add_option("--folder", o.folder, "folder for the file (on the device under test)")->capture_default_str();
  app.add_option("--size", o.size_text, "bytes per op (K/M/G)")->capture_default_str();
  app.add_option("--rounds", o.rounds, "interleaved rounds per path and direction")->capture_default_str()->check(CLI::Range(1u, 1000u));
  app.add_option("--floor", o.floor, "least device/host ratio of the medians that passes")->capture_default_str();
  app.add_option("--device", o.device_spec, "emulated, cuda or cuda:N")->capture_default_str();
  app.add_option("--json", o.json_path, "also write the figures as JSON to this file");
  app.add_option("--device-chunk-size", o.chunk_text, "bytes per staging chunk (K/M/G)")->capture_default_str();
  app.add_option("--device-chunks", o.config.device_chunks, "staging chunks per thread")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return std::nullopt;
}

// The two tensors of the same size and bytes, one in host memory and one in device memory, and
// the file they move through (removed when done).
struct Setup {
  std::shared_ptr<swapio::Device> device;
  std::shared_ptr<swapio::EmulatedDevice> emulated;  // set when the device is the emulated one
  std::string path;
  std::uint64_t size = 0;
};

// One direction's figures, one entry per round (copy_gibs: the emulated device's own copies).
struct Samples {
  std::vector<double> host_gibs, dev_gibs, ratios, copy_gibs;
};

// `rounds` rounds of one direction, each the device op and the host op back to back, the order
// alternating per round, after an untimed warm-up op each.
Samples measure(swapio::Handle& handle, swapio::HostBuffer& host, swapio::DeviceBuffer& dev, const Setup& s,
                unsigned rounds, bool write) {
  Samples m;
  // A warm-up op each, untimed: first touches of memory and the file's extents.
  handle.pwrite(host.span(), s.path);
  handle.pread(dev.span(), s.path);
  for (unsigned r = 0; r < rounds; ++r) {
    for (const bool on_device : {r % 2 == 1, r % 2 == 0}) {
      if (write) ::unlink(s.path.c_str());  // every write to a fresh file, as the harness's
      const auto stats0 = s.emulated ? s.emulated->copy_stats() : swapio::EmulatedDevice::CopyStats{};
      const auto t0 = std::chrono::steady_clock::now();
      const swapio::OpResult res =
          write ? (on_device ? handle.pwrite(dev.span(), s.path) : handle.pwrite(host.span(), s.path))
                : (on_device ? handle.pread(dev.span(), s.path) : handle.pread(host.span(), s.path));
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (res.bytes != s.size) throw std::runtime_error("short transfer");
      if (s.emulated && on_device) {
        const auto stats1 = s.emulated->copy_stats();
        m.copy_gibs.push_back(static_cast<double>(stats1.bytes - stats0.bytes) / swapio::kGiB / (stats1.seconds - stats0.seconds));
      }
      (on_device ? m.dev_gibs : m.host_gibs).push_back(static_cast<double>(s.size) / swapio::kGiB / sec);
    }
    m.ratios.push_back(m.dev_gibs.back() / m.host_gibs.back());
  }
  return m;
}

// Prints one direction's lines, adds its figures to `report`, and says whether it met the floor.
bool report_direction(const Samples& m, bool write, double floor, nlohmann::json& report) {
  const double h = median(m.host_gibs), d = median(m.dev_gibs), ratio = median(m.ratios);
  const bool ok = ratio >= floor;
  std::printf("%-5s host   %s GiB/s  median %.2f\n", write ? "write" : "read", join(m.host_gibs).c_str(), h);
  std::printf("%-5s device %s GiB/s  median %.2f\n", write ? "write" : "read", join(m.dev_gibs).c_str(), d);
  if (!m.copy_gibs.empty()) {
    std::printf("%-5s emulated device's memcpy %s GiB/s\n", write ? "write" : "read", join(m.copy_gibs).c_str());
  }
  std::printf("%-5s device/host per round %s  median ratio %.3f (floor %.2f) %s\n", write ? "write" : "read",
              join(m.ratios).c_str(), ratio, floor, ok ? "PASS" : "FAIL");
  report[write ? "write" : "read"] = {{"host_gib_per_s", m.host_gibs}, {"device_gib_per_s", m.dev_gibs},
                                      {"host_median", h}, {"device_median", d}, {"ratios", m.ratios},
                                      {"median_ratio", ratio}, {"pass", ok}};
  return ok;
}

// The measurement itself: both directions, the lines, the JSON file; its exit status.
int run(Options& o) {
  if (const char* d = std::getenv("SWAPIO_PERF_DIR"); d != nullptr && *d != '\0') {
    o.folder = std::string(d).substr(0, std::string(d).find(':'));  // the environment wins
  }
  swapio::Config& config = o.config;
  Setup s;
  s.size = swapio::parse_size(o.size_text);
  if (s.size == 0) throw swapio::ConfigError("--size 0: nothing to move");
  config.device_chunk_size = swapio::parse_size(o.chunk_text);
  config.validate();
  if (o.device_spec == "emulated") s.device = s.emulated = swapio::make_emulated_device();
  else s.device = swapio::open_device(o.device_spec);
  s.path = o.folder + "/swapio-device-path." + std::to_string(::getpid()) + ".swp";
  struct Remove {
    const std::string& path;
    ~Remove() { ::unlink(path.c_str()); }
  } remove{s.path};

  swapio::HostBuffer host(s.size);
  std::memset(host.data(), 0x5a, host.size());
  swapio::DeviceBuffer dev(s.device, s.size);
  s.device->copy_to_device(dev.span(), host.data());

  swapio::Handle handle(config);
  nlohmann::json report = {{"size", s.size}, {"rounds", o.rounds}, {"device", s.device->name()},
                           {"block_size", config.block_size}, {"queue_depth", config.queue_depth},
                           {"device_chunk_size", config.device_chunk_size}, {"device_chunks", config.device_chunks}};
  bool pass = true;
  std::printf("swapio device path vs host path: %s per op, Handle defaults (block %s, queue depth %u), ring %u x %s, "
              "%u interleaved rounds, device %s\n",
              swapio::format_bytes(s.size).c_str(), swapio::format_bytes(config.block_size).c_str(), config.queue_depth,
              config.device_chunks, swapio::format_bytes(config.device_chunk_size).c_str(), o.rounds,
              s.device->name().c_str());
  for (const bool write : {true, false}) {
    const bool ok = report_direction(measure(handle, host, dev, s, o.rounds, write), write, o.floor, report);
    pass = pass && ok;
  }
  report["pass"] = pass;
  if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    out << report.dump(2) << "\n";
    if (!out) throw std::runtime_error("cannot write " + o.json_path);
  }
  return pass ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (const std::optional<int> status = parse_options(argc, argv, o)) return *status;
  try {
    return run(o);
  } catch (const swapio::ConfigError& e) {
    std::fprintf(stderr, "swapio_device_path_bench: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "swapio_device_path_bench: %s\n", e.what());
    return 1;
  }
}
