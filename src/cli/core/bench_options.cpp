#include "bench_options.hpp"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "swapio/device.hpp"
#include "swapio/error.hpp"
#include "swapio/file.hpp"
#include "swapio/knobs.hpp"

namespace swapio::cli {
namespace {

constexpr unsigned kMaxProcesses = 1024;
constexpr unsigned kMaxLoops = 1000000;

// Where the file's name starts in path ({i} and {l} stand only there, never in its folder).
std::size_t name_start(const std::string& path) {
  return path.size() - std::filesystem::path(path).filename().string().size();
}

bool name_has(const std::string& path, const char* token) { return path.find(token, name_start(path)) != std::string::npos; }

// path with every `token` in its file's name replaced by `value`.
std::string replace_in_name(std::string path, const char* token, const std::string& value) {
  const std::size_t len = std::strlen(token);
  for (std::size_t at = path.find(token, name_start(path)); at != std::string::npos; at = path.find(token, at + value.size())) {
    path.replace(at, len, value);
  }
  return path;
}

}  // namespace

std::uint64_t size_arg(const char* name, const std::string& text) {
  try {
    return parse_size(text);
  } catch (const ConfigError& e) {
    throw ConfigError(std::string(name) + ": " + e.what());
  }
}

namespace {

void check_readable_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw ConfigError("--read-file " + path + ": " + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) throw ConfigError("--read-file " + path + ": is a directory, not a regular file");
  if (!S_ISREG(st.st_mode)) throw ConfigError("--read-file " + path + ": not a regular file");
  if (::access(path.c_str(), R_OK) != 0) throw ConfigError("--read-file " + path + ": " + std::strerror(errno));
  if (st.st_size == 0) throw ConfigError("--read-file " + path + ": the file is empty");
}

// Each <write-file>.<i> that exists already must be a regular file we may replace.
void check_write_targets(const BenchOptions& o) {
  for (unsigned i = 0; i < o.threads; ++i) {
    for (const std::string& path : o.files_for(true, i)) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) continue;  // new: fine
    if (!S_ISREG(st.st_mode)) throw ConfigError("--write-file: " + path + " exists and is not a regular file");
    if (::access(path.c_str(), W_OK) != 0) {
      throw ConfigError("--write-file: " + path + " exists and is not writable: " + std::strerror(errno));
    }
    }
  }
}

// The direct-I/O alignment of every file the run reads or writes (a new file: its folder's) must
// divide the block size, checked here so that a refusal touches no file (a worker would refuse
// it only after opening, and so creating, its file).
void check_direct_alignment(const BenchOptions& o) {
  std::vector<std::string> paths;
  for (unsigned i = 0; i < o.threads; ++i) {
    if (!o.write_file.empty()) {
      const std::string w = o.files_for(true, i).front();
      paths.push_back(::access(w.c_str(), F_OK) == 0 ? w : folder_of(w));
    }
    if (!o.read_file.empty()) paths.push_back(o.files_for(false, i).front());
  }
  for (const std::string& p : paths) {
    std::uint32_t align = 0;
    try {
      align = direct_offset_alignment(p, o.config.direct);
    } catch (const Error& e) {
      throw ConfigError(std::string("cannot look at ") + p + ": " + e.what());
    }
    if (align != 0 && o.config.block_size % align != 0) {
      throw ConfigError("--block-size " + std::to_string(o.config.block_size) +
                        " is not a multiple of the direct-I/O alignment " + std::to_string(align) + " of " + p +
                        " (use a multiple, or --direct off)");
    }
  }
}

// The processes that write onto one filesystem (folders on it together) must fit in its free
// space, plus what the files they replace hold now (except with --atomic-replace: the old file
// stays until the new one is whole).
void check_free_space(const BenchOptions& o) {
  struct Filesystem {
    std::set<std::string> folders;  // the run's folders on it, for the message
    std::string probe;    // one of them, for statvfs
    unsigned writers = 0;
    std::uint64_t replaced = 0;
  };
  std::map<dev_t, Filesystem> filesystems;
  for (unsigned i = 0; i < o.threads; ++i) {
    for (const std::string& path : o.files_for(true, i)) {  // a file per loop: each needs its room
      const std::string folder = folder_of(path);
      struct stat dir {};
      if (::stat(folder.c_str(), &dir) != 0) continue;  // unknown: let the write report it
      Filesystem& fs = filesystems[dir.st_dev];
      if (fs.probe.empty()) fs.probe = folder;
      fs.folders.insert(folder);
      ++fs.writers;
      struct stat st {};
      if (!o.config.atomic_replace && ::stat(path.c_str(), &st) == 0) fs.replaced += static_cast<std::uint64_t>(st.st_blocks) * 512;
    }
  }
  for (const auto& [dev, fs] : filesystems) {
    struct statvfs vfs {};
    if (::statvfs(fs.probe.c_str(), &vfs) != 0) continue;
    const std::uint64_t avail = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize + fs.replaced;
    if (o.write_size > avail / fs.writers) {
      std::string names;
      for (const std::string& f : fs.folders) names += (names.empty() ? "" : ", ") + f;
      throw ConfigError("--write-size " + format_bytes(o.write_size) + " x " + std::to_string(fs.writers) +
                        " file(s) does not fit in " + names + ": " + format_bytes(avail) + " free" +
                        (fs.folders.size() > 1 ? " on their one filesystem" : ""));
    }
  }
}

}  // namespace

void check_room(const std::vector<SpaceNeed>& needs, const std::string& who, const std::string& advice) {
  struct Filesystem {
    std::set<std::string> folders;
    std::uint64_t bytes = 0;
  };
  std::map<dev_t, Filesystem> filesystems;
  for (const SpaceNeed& n : needs) {
    struct stat st {};
    if (::stat(n.folder.c_str(), &st) != 0) continue;
    Filesystem& fs = filesystems[st.st_dev];
    fs.folders.insert(n.folder);
    fs.bytes += n.bytes;
  }
  for (const auto& [dev, fs] : filesystems) {
    struct statvfs vfs {};
    if (::statvfs(fs.folders.begin()->c_str(), &vfs) != 0) continue;
    const std::uint64_t avail = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    if (fs.bytes <= avail) continue;
    std::string names;
    for (const std::string& f : fs.folders) names += (names.empty() ? "" : ", ") + f;
    throw ConfigError(who + " needs about " + format_bytes(fs.bytes) + " free in " + names +
                      (fs.folders.size() > 1 ? " (their one filesystem)" : "") + "; it has " + format_bytes(avail) +
                      (advice.empty() ? "" : ": " + advice));
  }
}

namespace {

// --gpu, --device and --folder-to-device-mapping: every device named must be one this build
// can open and that is visible, checked before any worker starts. A setting the run would
// ignore is refused: the staging ring's shape without a ring, host staging on a GPU.
void finish_device_options(BenchOptions& o, const BenchArgs& a) {
  if (!o.gpu) {
    if (!a.device.empty()) throw ConfigError("--device " + a.device + " needs --gpu");
    if (!a.mapping.empty()) throw ConfigError("--folder-to-device-mapping needs --gpu");
    // bench's own memory goes through the ring on the host only with --staging always.
    for (const char* key : {"device_chunk_size", "device_chunks"}) {
      if (knob_given(a.knobs, key) && o.config.staging != StageMode::always) {
        throw ConfigError(std::string(find_knob(key)->flag) +
                          " needs --gpu or --staging always (the staging ring it shapes is used only then)");
      }
    }
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
  if (!a.mapping.empty()) {
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
  if (emulated) return;
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

}  // namespace

void check_writable_folder(const std::string& what, const std::string& folder) {
  struct stat st {};
  if (::stat(folder.c_str(), &st) != 0) {
    throw ConfigError(what + ": folder " + folder + ": " + std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) throw ConfigError(what + ": " + folder + " is not a folder");
  if (::access(folder.c_str(), W_OK | X_OK) != 0) {
    throw ConfigError(what + ": folder " + folder + " is not writable: " + std::strerror(errno));
  }
}

void check_writable_file_folder(const std::string& what, const std::string& file) {
  const std::filesystem::path dir = std::filesystem::path(file).parent_path();
  check_writable_folder(what, dir.empty() ? "." : dir.string());
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

void finish_bench_options(BenchOptions& o, const BenchArgs& a) {
  apply_knob_options(a.knobs, o.config);
  if (o.threads == 0) throw ConfigError("--threads 0: at least 1 worker process");
  if (o.threads > kMaxProcesses) {
    throw ConfigError("--threads " + std::to_string(o.threads) + ": at most " + std::to_string(kMaxProcesses));
  }
  if (o.loops == 0) throw ConfigError("--loops 0: at least 1 timed loop");
  if (o.loops > kMaxLoops || o.warmup_loops > kMaxLoops) {
    throw ConfigError("--loops/--warmup-loops: at most " + std::to_string(kMaxLoops));
  }
  // Every worker holds two pipe ends in the parent: make sure the descriptors are there.
  struct rlimit files {};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0) {
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
  try {
    o.config.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(std::string("invalid settings: ") + e.what());
  }
  finish_device_options(o, a);
  if (!a.write_size.empty()) o.write_size = size_arg("--write-size", a.write_size);

  if (o.quick) {
    if (!o.read_file.empty() || !o.write_file.empty()) {
      throw ConfigError("--quick chooses its own file: drop --read-file/--write-file");
    }
    if (a.write_size.empty()) o.write_size = 256ull << 20;
    o.validate = true;
    o.write_file = "swapio-bench-" + std::to_string(::getpid()) + ".tmp";
  }
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
  for (const std::string& f : o.folders) {
    if (!o.write_file.empty()) {
      check_writable_folder("--folder", f);
    } else if (!std::filesystem::is_directory(f)) {
      throw ConfigError("--folder " + f + ": not a folder");
    }
  }
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
  if (!o.read_file.empty()) {
    const bool per_process = o.read_file.find("{i}") != std::string::npos;
    const unsigned distinct = per_process ? o.threads : static_cast<unsigned>(std::min<std::size_t>(o.threads, std::max<std::size_t>(o.folders.size(), 1)));
    for (unsigned i = 0; i < distinct; ++i) {
      for (const std::string& f : o.files_for(false, i)) check_readable_file(f);
    }
    if (!o.write_file.empty()) {
      for (unsigned i = 0; i < o.threads; ++i) {
        std::error_code ec;
        if (std::filesystem::equivalent(o.path_for(false, i), o.path_for(true, i), ec)) {
          throw ConfigError("--read-file and --write-file name the same file: " + o.path_for(true, i));
        }
      }
    }
  }
  check_direct_alignment(o);
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

}  // namespace swapio::cli
