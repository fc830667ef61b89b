// `swapio bench`'s options: their declarations on the command line, and the files and devices
// each worker process uses by them.
#include "bench/bench_options.hpp"

#include <cstring>
#include <filesystem>

#include "swapio/error.hpp"
#include "swapio/knobs.hpp"

namespace swapio::cli {
namespace {

// path with every `token` in its file's name replaced by `value`.
std::string replace_in_name(std::string path, const char* token, const std::string& value) {
  const std::size_t len = std::strlen(token);
  for (std::size_t at = path.find(token, name_start(path)); at != std::string::npos; at = path.find(token, at + value.size())) {
    path.replace(at, len, value);
  }
  return path;
}

// Counts are whole decimal numbers, as the knobs' (parse_count): no "010" read as octal, no "0x20".
const CLI::Validator kDecimal(
    [](std::string& v) -> std::string {
      try {
        (void)parse_count(v, UINT64_MAX);
      } catch (const ConfigError& e) {
        return e.what();
      }
      return {};
    },
    "NUMBER");

}  // namespace

std::size_t name_start(const std::string& path) {
  return path.size() - std::filesystem::path(path).filename().string().size();
}

bool name_has(const std::string& path, const char* token) { return path.find(token, name_start(path)) != std::string::npos; }

std::uint64_t size_arg(const char* name, const std::string& text) {
  try {
    return parse_size(text);
  } catch (const ConfigError& e) {
    throw ConfigError(std::string(name) + ": " + e.what());
  }
}

std::string BenchOptions::device_for(unsigned process) const {
  if (!gpu) return {};
  if (devices.empty()) return device;
  return devices[process % devices.size()];
}

std::string BenchOptions::path_for(bool write, unsigned process) const {
  const std::string& base = write ? write_file : read_file;
  std::string path = base;
  if (!folders.empty()) {
    path = (std::filesystem::path(folders[process % folders.size()]) / std::filesystem::path(base).filename()).string();
  }
  // "{i}" in the file's name is the process's number (x.{i}: what a write set wrote); a write
  // file without it is NAME.i.
  const std::string index = std::to_string(process);
  if (write && !name_has(path, "{i}")) return path + "." + index;
  return replace_in_name(path, "{i}", index);
}

std::string loop_path(const std::string& path, unsigned loop) { return replace_in_name(path, "{l}", std::to_string(loop)); }

std::vector<std::string> BenchOptions::files_for(bool write, unsigned process) const {
  const std::string path = path_for(write, process);
  if (!name_has(path, "{l}")) return {path};
  std::vector<std::string> files;
  for (unsigned loop = 0; loop < warmup_loops + loops; ++loop) files.push_back(loop_path(path, loop));
  return files;
}

nlohmann::json BenchOptions::to_json() const {
  nlohmann::json j = knobs_to_json(config);
  j.update({{"read_file", read_file},
            {"write_file", write_file},
            {"write_size", write_size},
            {"folders", folders},
            {"threads", threads},
            {"handle", handle},
            {"loops", loops},
            {"warmup_loops", warmup_loops},
            {"validate", validate},
            {"gpu", gpu},
            {"device", gpu ? device : ""},
            {"devices", devices},
            {"stall_timeout", stall_timeout}});
  return j;
}

void add_bench_options(CLI::App& app, BenchOptions& o, BenchArgs& a) {
  app.add_option("--read-file,--read_file", o.read_file,
                 "file every process reads (with --folder: its name in each folder); {i} in the name is the "
                 "process's number: --read-file x.{i} reads the set --write-file x wrote (process i: x.i, in "
                 "folder i mod n); {l}: a different file per loop, {l} the loop's number");
  app.add_option("--write-file,--write_file", o.write_file,
                 "file to write: process i writes <FILE>.<i> (or FILE with {i} replaced by i), replacing any "
                 "earlier one; {l} in the name: a different file per loop, {l} the loop's number");
  app.add_option("--write-size,--write_size", a.write_size, "bytes each process writes (K/M/G suffixes, powers of 1024)");
  app.add_option("--threads", o.threads, "worker processes, started together behind a barrier")->check(kDecimal)->capture_default_str();
  app.add_flag("--validate", o.validate,
               "after the loops, check the bytes: a write against an independent buffered read of the file; a "
               "read against swapio's pattern (what bench writes) when the file holds it, naming the first bad "
               "offset, else against a second buffered read");
  app.add_flag("--handle", o.handle, "use a persistent Handle (thread pool) instead of the one-shot basic API");
  app.add_option("--loops", o.loops, "timed repetitions of the operation")->check(kDecimal)->capture_default_str();
  app.add_option("--warmup-loops,--warmup_loops", o.warmup_loops, "untimed repetitions before the timed ones")
      ->check(kDecimal)
      ->capture_default_str();
  app.add_option("--stall-timeout", o.stall_timeout,
                 "seconds without progress from any worker before the run is stopped (0: never)")
      ->check(kDecimal)
      ->capture_default_str();
  app.add_flag("--gpu", o.gpu,
               "the tensor lives in GPU memory: the bytes move through a ring of pinned host chunks per "
               "thread, copies overlapping the I/O");
  app.add_option("--device", a.device,
                 "with --gpu: cuda (the first GPU), cuda:N, or emulated (the host emulation of a GPU: the "
                 "same pipeline, on machines without one) [default: cuda]");
  app.add_option("--folder-to-device-mapping,--folder_to_device_mapping", a.mapping,
                 "with --gpu, instead of --folder: FOLDER:N entries; process i uses entry i mod n, its folder "
                 "and GPU N");
  add_knob_options(app, a.knobs);
  app.add_flag("--use-accelerator-pin-memory,--use_accelerator_pin_memory", a.accelerator_pin_memory,
               "accepted for DeepSpeed's command lines: the tensor is swapio's own page-aligned, huge-page memory "
               "either way");
  app.add_option("--folder", o.folders, "folder for the files, repeatable: process i uses folder i mod n");
  app.add_flag("--json", o.json, "print one JSON document with every figure and the configuration");
  app.add_flag("--quick", o.quick, "a short demo: each process writes a 256 MiB temporary file here, reads it back, "
                                   "validates, and removes it");
}

}  // namespace swapio::cli
