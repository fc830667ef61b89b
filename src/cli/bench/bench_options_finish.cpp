// finish_bench_options: `swapio bench`'s arguments turned into values and checked step by step
// (counts, settings, devices, files), before any worker starts or any file is touched.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "bench/bench_options.hpp"
#include "bench/bench_options_checks.hpp"
#include "swapio/device.hpp"
#include "swapio/gds.hpp"
#include "swapio/error.hpp"
#include "swapio/file.hpp"
#include "swapio/knobs.hpp"

namespace swapio::cli {
namespace {

constexpr unsigned kMaxProcesses = 1024;
constexpr unsigned kMaxLoops = 1000000;

// Every worker holds two pipe ends in the parent: make sure the descriptors are there.
void raise_open_file_limit(const BenchOptions& o) {
  struct rlimit files {};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0) return;
  const rlim_t need = 2 * static_cast<rlim_t>(o.threads) + 64;
  if (files.rlim_cur < need && files.rlim_max >= need) {
    files.rlim_cur = need;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  if (files.rlim_cur < need) {
    throw ConfigError("--threads " + std::to_string(o.threads) + ": needs " + std::to_string(need) +
                      " open files, the limit is " + std::to_string(files.rlim_cur) + " (ulimit -n)");
  }
}

void check_counts(const BenchOptions& o) {
  if (o.threads == 0) throw ConfigError("--threads 0: at least 1 worker process");
  if (o.threads > kMaxProcesses) {
    throw ConfigError("--threads " + std::to_string(o.threads) + ": at most " + std::to_string(kMaxProcesses));
  }
  if (o.loops == 0) throw ConfigError("--loops 0: at least 1 timed loop");
  if (o.loops > kMaxLoops || o.warmup_loops > kMaxLoops) {
    throw ConfigError("--loops/--warmup-loops: at most " + std::to_string(kMaxLoops));
  }
}

// Without --gpu: no device options, and the staging ring's shape only where a ring is used
// (bench's own memory goes through the ring on the host only with --staging always).
void check_host_only(const BenchOptions& o, const BenchArgs& a) {
  if (!a.device.empty()) throw ConfigError("--device " + a.device + " needs --gpu");
  if (knob_given(a.knobs, "gds") && o.config.gds != GdsMode::off) {
    throw ConfigError("--gds needs --gpu: GPUDirect Storage moves device memory");
  }
  if (!a.mapping.empty()) throw ConfigError("--folder-to-device-mapping needs --gpu");
  for (const char* key : {"device_chunk_size", "device_chunks"}) {
    if (knob_given(a.knobs, key) && o.config.staging != StageMode::always) {
      throw ConfigError(std::string(find_knob(key)->flag) +
                        " needs --gpu or --staging always (the staging ring it shapes is used only then)");
    }
  }
}

// --folder-to-device-mapping's FOLDER:N entries into the folders and their devices.
void take_device_mapping(BenchOptions& o, const BenchArgs& a, bool emulated) {
  if (!o.folders.empty()) throw ConfigError("give --folder or --folder-to-device-mapping, not both");
  if (!a.device.empty() && !emulated) {
    throw ConfigError("--device " + o.device + " and --folder-to-device-mapping: the mapping names the GPUs");
  }
  for (const std::string& entry : a.mapping) {
    const auto colon = entry.rfind(':');
    const std::string folder = colon == std::string::npos ? "" : entry.substr(0, colon);
    const std::string id = colon == std::string::npos ? "" : entry.substr(colon + 1);
    DeviceSpec gpu;
    try {
      if (folder.empty() || id.size() > 4) throw ConfigError(entry);
      gpu = parse_device_spec("cuda:" + id);
    } catch (const ConfigError&) {
      throw ConfigError("--folder-to-device-mapping " + entry + ": expected FOLDER:N with N a GPU number");
    }
    o.folders.push_back(folder);
    o.devices.push_back(emulated ? "emulated" : gpu.str());
  }
}

// Every GPU the run names must be one this build can open and that is visible.
void check_visible_gpus(const BenchOptions& o) {
  if (!cuda_built()) {
    throw ConfigError("--gpu: this build has no CUDA support (no CUDA Toolkit was found when it was built); "
                      "--device emulated runs the same path on the host emulation");
  }
  std::string why;
  const int count = cuda_device_count(&why);
  if (count == 0) {
    throw ConfigError("--gpu: no CUDA device is visible (" + why +
                      "); --device emulated runs the same path on the host emulation");
  }
  std::vector<std::string> named = o.devices.empty() ? std::vector<std::string>{o.device} : o.devices;
  for (const std::string& d : named) {
    const int index = parse_device_spec(d).index;
    if (index >= count) {
      throw ConfigError("--gpu: GPU " + std::to_string(index) + " does not exist (" + std::to_string(count) +
                        " visible: 0.." + std::to_string(count - 1) + ")");
    }
  }
}

// --gpu, --device and --folder-to-device-mapping: every device named must be one this build
// can open and that is visible, checked before any worker starts. A setting the run would
// ignore is refused: the staging ring's shape without a ring, host staging on a GPU.
void finish_device_options(BenchOptions& o, const BenchArgs& a) {
  if (!o.gpu) {
    check_host_only(o, a);
    return;
  }
  if (knob_given(a.knobs, "staging")) {
    throw ConfigError("--staging " + a.knobs.text.at("staging") +
                      " and --gpu: --staging is for host memory (a GPU's bytes always go through the ring)");
  }
  if (!a.device.empty()) o.device = a.device;
  DeviceSpec spec;
  try {
    spec = parse_device_spec(o.device);
  } catch (const ConfigError& e) {
    throw ConfigError("--device " + o.device + ": expected a device: " + e.what());
  }
  const bool emulated = spec.emulated;
  if (!a.mapping.empty()) take_device_mapping(o, a, emulated);
  if (!emulated) check_visible_gpus(o);
  if (o.config.gds == GdsMode::on) {
    if (const std::string why = gds_unavailable(emulated); !why.empty()) {
      throw ConfigError("--gds on: no GPUDirect Storage here: " + why);
    }
  }
}

// --quick chooses its own file, size and validation.
void finish_quick(BenchOptions& o, const BenchArgs& a) {
  if (!o.read_file.empty() || !o.write_file.empty()) {
    throw ConfigError("--quick chooses its own file: drop --read-file/--write-file");
  }
  if (a.write_size.empty()) o.write_size = 256ull << 20;
  o.validate = true;
  o.write_file = "swapio-bench-" + std::to_string(::getpid()) + ".tmp";
}

// Something to read or write, files named as files, {i} and {l} only in their names.
void check_file_names(const BenchOptions& o) {
  if (o.read_file.empty() && o.write_file.empty()) {
    throw ConfigError("nothing to do: give --read-file, --write-file (with --write-size), or --quick");
  }
  if (const std::string name = std::filesystem::path(o.write_file).filename().string();
      !o.write_file.empty() && (name.empty() || name == "." || name == "..")) {
    throw ConfigError("--write-file " + o.write_file + ": names a folder, not a file (process i writes FILE.i: give "
                      "FILE, with --folder for the folder)");
  }
  for (const auto& [flag, file] : {std::pair{"--read-file ", &o.read_file}, std::pair{"--write-file ", &o.write_file}}) {
    for (const char* token : {"{i}", "{l}"}) {
      if (file->substr(0, name_start(*file)).find(token) != std::string::npos) {
        throw ConfigError(flag + *file + ": " + token + " may stand only in the file's name, not in its folder");
      }
    }
  }
  if (o.config.atomic_replace && name_has(o.write_file, "{l}")) {
    throw ConfigError("--atomic-replace and a file per loop ({l} in --write-file) cannot be combined");
  }
}

void check_folders(const BenchOptions& o) {
  for (const std::string& f : o.folders) {
    if (!o.write_file.empty()) {
      check_writable_folder("--folder", f);
    } else if (!std::filesystem::is_directory(f)) {
      throw ConfigError("--folder " + f + ": not a folder");
    }
  }
}

// With --write-file: a size, a writable place, room; without: no option that only a write uses.
void check_writes(const BenchOptions& o, const BenchArgs& a) {
  if (!o.write_file.empty()) {
    if (o.write_size == 0) {
      throw ConfigError(a.write_size.empty() ? "--write-file needs --write-size (bytes each process writes)"
                                             : "--write-size 0: nothing to write");
    }
    if (o.write_size > (1ull << 50)) throw ConfigError("--write-size " + a.write_size + ": larger than 1 PiB");
    if (o.folders.empty()) check_writable_folder("--write-file " + o.write_file, folder_of(o.write_file));
    check_write_targets(o);
    check_free_space(o);
  } else if (!a.write_size.empty()) {
    throw ConfigError("--write-size needs --write-file");
  } else if (o.config.sync || o.config.atomic_replace) {
    throw ConfigError(std::string(o.config.atomic_replace ? "--atomic-replace" : "--sync") + " needs --write-file");
  }
}

// Every distinct file read must be readable, and none the file the same process writes.
void check_reads(const BenchOptions& o) {
  if (o.read_file.empty()) return;
  const bool per_process = o.read_file.find("{i}") != std::string::npos;
  const unsigned distinct = per_process ? o.threads : static_cast<unsigned>(std::min<std::size_t>(o.threads, std::max<std::size_t>(o.folders.size(), 1)));
  for (unsigned i = 0; i < distinct; ++i) {
    for (const std::string& f : o.files_for(false, i)) check_readable_file(f);
  }
  if (o.write_file.empty()) return;
  for (unsigned i = 0; i < o.threads; ++i) {
    std::error_code ec;
    if (std::filesystem::equivalent(o.path_for(false, i), o.path_for(true, i), ec)) {
      throw ConfigError("--read-file and --write-file name the same file: " + o.path_for(true, i));
    }
  }
}

}  // namespace

void finish_bench_options(BenchOptions& o, const BenchArgs& a) {
  apply_knob_options(a.knobs, o.config);
  check_counts(o);
  raise_open_file_limit(o);
  try {
    o.config.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(std::string("invalid settings: ") + e.what());
  }
  finish_device_options(o, a);
  if (!a.write_size.empty()) o.write_size = size_arg("--write-size", a.write_size);
  if (o.quick) finish_quick(o, a);
  check_file_names(o);
  check_folders(o);
  check_writes(o, a);
  check_reads(o);
  check_direct_alignment(o);
}

}  // namespace swapio::cli
