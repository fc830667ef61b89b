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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"GPU path vs host path, interleaved rounds, medians (GiB/s = 2^30 bytes/s)"};
  std::string folder = ".", size_text = "1G", device_spec = "emulated", json_path;
  unsigned rounds = 9;
  double floor = 0.9;
  app.add_option("--folder", folder, "folder for the file (on the device under test)")->capture_default_str();
  app.add_option("--size", size_text, "bytes per op (K/M/G)")->capture_default_str();
  app.add_option("--rounds", rounds, "interleaved rounds per path and direction")->capture_default_str()->check(CLI::Range(1u, 1000u));
  app.add_option("--floor", floor, "least device/host ratio of the medians that passes")->capture_default_str();
  app.add_option("--device", device_spec, "emulated, cuda or cuda:N")->capture_default_str();
  app.add_option("--json", json_path, "also write the figures as JSON to this file");
  swapio::Config config;  // the defaults (what users get) unless the ring is set here
  std::string chunk_text = std::to_string(config.device_chunk_size);
  app.add_option("--device-chunk-size", chunk_text, "bytes per staging chunk (K/M/G)")->capture_default_str();
  app.add_option("--device-chunks", config.device_chunks, "staging chunks per thread")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  try {
    if (const char* d = std::getenv("SWAPIO_PERF_DIR"); d != nullptr && *d != '\0') {
      folder = std::string(d).substr(0, std::string(d).find(':'));  // the environment wins
    }
    const std::uint64_t size = swapio::parse_size(size_text);
    if (size == 0) throw swapio::ConfigError("--size 0: nothing to move");
    config.device_chunk_size = swapio::parse_size(chunk_text);
    config.validate();
    std::shared_ptr<swapio::Device> device;
    std::shared_ptr<swapio::EmulatedDevice> emulated;
    if (device_spec == "emulated") device = emulated = swapio::make_emulated_device();
    else device = swapio::open_device(device_spec);
    const std::string path = folder + "/swapio-device-path." + std::to_string(::getpid()) + ".swp";
    struct Remove {
      const std::string& path;
      ~Remove() { ::unlink(path.c_str()); }
    } remove{path};

    swapio::HostBuffer host(size);
    std::memset(host.data(), 0x5a, host.size());
    swapio::DeviceBuffer dev(device, size);
    device->copy_to_device(dev.span(), host.data());

    swapio::Handle handle(config);
    nlohmann::json report = {{"size", size}, {"rounds", rounds}, {"device", device->name()},
                             {"block_size", config.block_size}, {"queue_depth", config.queue_depth},
                             {"device_chunk_size", config.device_chunk_size}, {"device_chunks", config.device_chunks}};
    bool pass = true;
    std::printf("swapio device path vs host path: %s per op, Handle defaults (block %s, queue depth %u), ring %u x %s, "
                "%u interleaved rounds, device %s\n",
                swapio::format_bytes(size).c_str(), swapio::format_bytes(config.block_size).c_str(), config.queue_depth,
                config.device_chunks, swapio::format_bytes(config.device_chunk_size).c_str(), rounds,
                device->name().c_str());
    for (const bool write : {true, false}) {
      std::vector<double> host_gibs, dev_gibs, ratios, copy_gibs;
      // A warm-up op each, untimed: first touches of memory and the file's extents.
      handle.pwrite(host.span(), path);
      handle.pread(dev.span(), path);
      for (unsigned r = 0; r < rounds; ++r) {
        for (const bool on_device : {r % 2 == 1, r % 2 == 0}) {
          if (write) ::unlink(path.c_str());  // every write to a fresh file, as the harness's
          const auto stats0 = emulated ? emulated->copy_stats() : swapio::EmulatedDevice::CopyStats{};
          const auto t0 = std::chrono::steady_clock::now();
          const swapio::OpResult res =
              write ? (on_device ? handle.pwrite(dev.span(), path) : handle.pwrite(host.span(), path))
                    : (on_device ? handle.pread(dev.span(), path) : handle.pread(host.span(), path));
          const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          if (res.bytes != size) throw std::runtime_error("short transfer");
          if (emulated && on_device) {
            const auto stats1 = emulated->copy_stats();
            copy_gibs.push_back(static_cast<double>(stats1.bytes - stats0.bytes) / swapio::kGiB / (stats1.seconds - stats0.seconds));
          }
          (on_device ? dev_gibs : host_gibs).push_back(static_cast<double>(size) / swapio::kGiB / s);
        }
        ratios.push_back(dev_gibs.back() / host_gibs.back());
      }
      const double h = median(host_gibs), d = median(dev_gibs), ratio = median(ratios);
      const bool ok = ratio >= floor;
      pass = pass && ok;
      std::printf("%-5s host   %s GiB/s  median %.2f\n", write ? "write" : "read", join(host_gibs).c_str(), h);
      std::printf("%-5s device %s GiB/s  median %.2f\n", write ? "write" : "read", join(dev_gibs).c_str(), d);
      if (!copy_gibs.empty()) {
        std::printf("%-5s emulated device's memcpy %s GiB/s\n", write ? "write" : "read", join(copy_gibs).c_str());
      }
      std::printf("%-5s device/host per round %s  median ratio %.3f (floor %.2f) %s\n", write ? "write" : "read",
                  join(ratios).c_str(), ratio, floor, ok ? "PASS" : "FAIL");
      report[write ? "write" : "read"] = {{"host_gib_per_s", host_gibs}, {"device_gib_per_s", dev_gibs},
                                          {"host_median", h}, {"device_median", d}, {"ratios", ratios},
                                          {"median_ratio", ratio}, {"pass", ok}};
    }
    report["pass"] = pass;
    if (!json_path.empty()) {
      std::ofstream out(json_path);
      out << report.dump(2) << "\n";
      if (!out) throw std::runtime_error("cannot write " + json_path);
    }
    return pass ? 0 : 1;
  } catch (const swapio::ConfigError& e) {
    std::fprintf(stderr, "swapio_device_path_bench: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "swapio_device_path_bench: %s\n", e.what());
    return 1;
  }
}
