#include "bench/ds_io.hpp"

#include <sys/stat.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "bench/bench.hpp"
#include "bench/bench_options.hpp"
#include "swapio/basic.hpp"
#include "swapio/buffer.hpp"
#include "swapio/error.hpp"
#include "swapio/validate.hpp"

namespace swapio::cli {
namespace {

// ds_io's create_filename: <folder>/_aio_<read|write>_<bytes>.pt.<tid>, where the handle engine's
// tid is "<process>_<loop>" (loop 0 unless --different_file_each_iteration: every loop one file).
std::string file_name(bool read, std::uint64_t bytes, bool handle, bool per_loop) {
  return std::string("_aio_") + (read ? "read" : "write") + "_" + std::to_string(bytes) + ".pt." +
         (handle ? (per_loop ? "{i}_{l}" : "{i}_0") : "{i}");
}

// A count argument of ds_io's (--loops, --warmup_loops), named as given when it is no number.
std::uint64_t count_arg(const char* name, const std::string& text) {
  try {
    return parse_count(text);
  } catch (const ConfigError& e) {
    throw ConfigError(std::string(name) + " " + text + ": " + e.what());
  }
}

bool option_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_'; }

// DeepSpeed's reading of the mapping (ds_aio_args.py, _get_mapping_dict): each entry split at
// every ':', the folder before the first, the device id (a string) after it; a dict by device
// id, a later entry replacing the folder of an earlier one with its id, one process per id.
// Where it would run another count of processes, or another folder, than swapio's reading
// (one process per entry, split at the last ':'), one line each saying so.
std::vector<std::string> mapping_notes(const std::vector<std::string>& mapping) {
  std::vector<std::string> notes;
  std::set<std::string> ids;
  std::string split;  // the first entry the first ':' splits otherwise
  std::size_t differing = 0;
  for (const std::string& entry : mapping) {
    const std::size_t first = entry.find(':'), last = entry.rfind(':');
    const std::size_t second = entry.find(':', first + 1);
    ids.insert(entry.substr(first + 1, second == std::string::npos ? std::string::npos : second - first - 1));
    if (first == last) continue;
    if (differing++ == 0) {
      split = entry + " at the first ':' (folder " + entry.substr(0, first) + "); swapio splits it at the last (folder " +
              entry.substr(0, last) + ", device " + entry.substr(last + 1) + ")";
    }
  }
  if (ids.size() != mapping.size()) {
    notes.push_back("note: DeepSpeed's ds_io would run " + std::to_string(ids.size()) + " process" +
                    (ids.size() == 1 ? "" : "es") +
                    " for this mapping (it keys entries by device id, a later folder replacing an earlier one); "
                    "swapio runs " + std::to_string(mapping.size()) + ", one per entry");
  }
  if (differing > 0) {
    notes.push_back("note: DeepSpeed's ds_io would split --folder_to_device_mapping " + split +
                    (differing > 1 ? "; " + std::to_string(differing - 1) + " more entr" +
                                         (differing == 2 ? "y has" : "ies have") + " a ':' in its folder"
                                   : ""));
  }
  return notes;
}

}  // namespace

std::string in_ds_io_words(const std::string& message, const DsIoArgs& a) {
  // --folder stands for the mapping's folders when the mapping gave them; a file (bench's
  // --write-file, --read-file) is the one ds_io names in them.
  const std::string folder = a.folder.empty() ? "--folder_to_device_mapping" : "--folder";
  const std::map<std::string, std::string> names = {
      {"--write-size", "--io_size"},         {"--write_size", "--io_size"},
      {"--block-size", "--block_size"},      {"--queue-depth", "--queue_depth"},
      {"--io-parallel", "--io_parallel"},    {"--warmup-loops", "--warmup_loops"},
      {"--single-submit", "--single_submit"}, {"--sequential-requests", "--sequential_requests"},
      {"--folder-to-device-mapping", "--folder_to_device_mapping"},
      {"--folder", folder},                  {"--write-file", folder},
      {"--read-file", "--read"},             {"--handle", "--engine aio_handle"},
      {"--use-accelerator-pin-memory", "--use_accelerator_pin_memory"},
  };
  std::string text = message;
  // Advice ds_io's line cannot follow: it has no --direct.
  const std::string drop = ", or --direct off";
  for (std::size_t at = text.find(drop); at != std::string::npos; at = text.find(drop, at)) text.erase(at, drop.size());
  std::string out;
  std::size_t option_end = std::string::npos;  // where the last option renamed ended ("--loops/--warmup-loops")
  for (std::size_t i = 0; i < text.size();) {
    const bool starts = text.compare(i, 2, "--") == 0 &&
                        (i == 0 || text[i - 1] == ' ' || text[i - 1] == '(' || (text[i - 1] == '/' && option_end == i - 1));
    if (!starts) {
      out += text[i++];
      continue;
    }
    std::size_t end = i + 2;
    while (end < text.size() && option_char(text[end])) ++end;
    const std::string word = text.substr(i, end - i);
    if (word == "--threads") {
      // bench's processes: --multi_process, or the mapping's entries.
      std::size_t digits = end;
      if (digits < text.size() && text[digits] == ' ') ++digits;
      std::size_t stop = digits;
      while (stop < text.size() && std::isdigit(static_cast<unsigned char>(text[stop])) != 0) ++stop;
      const std::string count = stop > digits ? text.substr(digits, stop - digits) : "";
      if (a.folder.empty()) {
        out += "--folder_to_device_mapping" + (count.empty() ? "" : " of " + count + " entries");
      } else {
        out += "--multi_process" + (count.empty() ? "" : " " + count);
      }
      if (!count.empty()) end = stop;
    } else {
      const auto it = names.find(word);
      out += it == names.end() ? word : it->second;
    }
    option_end = end;
    i = end;
  }
  return out;
}

void add_ds_io_options(CLI::App& app, DsIoArgs& a) {
  app.add_option("--folder", a.folder, "folder to use for I/O (every process uses it)");
  app.add_option("--folder_to_device_mapping", a.mapping,
                 "FOLDER:N entries instead of --folder: one process per entry, using its folder (and, with --gpu, "
                 "GPU N), split at the last ':' (a folder may hold ':'). DeepSpeed's ds_io runs one process per "
                 "distinct N (a later folder replacing an earlier one) and splits at the first ':': a note on stderr "
                 "says when that would differ");
  app.add_option("--io_size", a.io_size, "bytes each process reads or writes (K/M/G suffixes, powers of 1024)")->required();
  app.add_option("--fast_io_size", a.fast_io_size, "accepted for torch_fastio's command lines (that engine is not supported)")
      ->capture_default_str();
  app.add_flag("--read", a.read, "read (creating missing read files of --io_size first); default: write");
  a.multi_process_option = app.add_option("--multi_process", a.multi_process,
                                          "processes doing I/O in parallel, with --folder (the mapping runs one per entry)")
                               ->capture_default_str();
  app.add_option("--block_size", a.block_size, "bytes per request (K/M/G suffixes)")->capture_default_str();
  app.add_option("--queue_depth", a.queue_depth, "requests in flight")->capture_default_str();
  app.add_flag("--single_submit", a.single_submit, "submit requests one at a time (default: queue_depth at once)");
  app.add_flag("--sequential_requests", a.sequential_requests,
               "submit a window only when the previous one completed (default: overlap submission and completion)");
  app.add_flag("--validate", a.validate, "check the bytes after the loops (outside the timings)");
  app.add_option("--engine", a.engine, "aio_handle (a persistent handle) or aio_basic (set up per call)")
      ->capture_default_str();
  app.add_option("--loops", a.loops, "timed repetitions")->capture_default_str();
  app.add_option("--warmup_loops", a.warmup_loops, "untimed repetitions before them")->capture_default_str();
  app.add_flag("--include_warmup_time", a.include_warmup_time, "count the warm-up loops in the figures");
  app.add_option("--io_parallel", a.io_parallel, "threads per op, each taking one slice [default: 1]");
  app.add_flag("--gpu", a.gpu, "the tensor in GPU memory, staged through pinned host chunks");
  app.add_option("--device", a.device,
                 "swapio's: with --gpu, cuda, cuda:N or emulated (the host emulation of a GPU) [default: cuda]");
  app.add_flag("--use_gds", a.use_gds,
               "GPUDirect Storage: with --gpu, the tensor moves by cuFile (bench --gds on: an error, exit 2, where "
               "no GDS path exists)");
  app.add_flag("--slow_bounce_buffer", a.slow_bounce_buffer,
               "accepted; swapio's staging ring is pinned once per handle, never on the critical path");
  app.add_flag("--use_accelerator_pin_memory", a.use_accelerator_pin_memory,
               "accepted; the tensor is swapio's own page-aligned, huge-page memory either way");
  app.add_flag("--different_file_each_iteration", a.different_file_each_iteration,
               "a different file per loop (_aio_<op>_<bytes>.pt.<process>_<loop>; the handle engine only, as ds_io)");
  app.add_flag("--torch_legacy_save", a.torch_legacy_save, "accepted for torch_io's command lines (not supported)");
  app.add_flag("--json", a.json, "swapio's: one JSON document with every figure (bench's)");
}

namespace {

// The checks of ds_io's validate_args, and what swapio cannot do.
void check_ds_io_line(const DsIoArgs& a) {
  if (!a.folder.empty() && !a.mapping.empty()) {
    throw ConfigError("--folder and --folder_to_device_mapping cannot be specified together");
  }
  if (a.folder.empty() && a.mapping.empty()) {
    throw ConfigError("at least one of --folder or --folder_to_device_mapping must be specified");
  }
  if (!a.folder.empty() && !std::filesystem::is_directory(a.folder)) {
    throw ConfigError("--folder " + a.folder + ": not a folder");
  }
  if (a.engine == "torch_io" || a.engine == "torch_fastio") {
    throw ConfigError("--engine " + a.engine + " is not supported: swapio moves the bytes with its own engines "
                      "(use aio_handle or aio_basic)");
  }
  if (a.engine != "aio_handle" && a.engine != "aio_basic") {
    throw ConfigError("--engine " + a.engine + " is invalid: use aio_handle or aio_basic");
  }
  if (a.use_gds && !a.gpu) throw ConfigError("--use_gds: --gpu must be set to transfer with --use_gds");
  if (!a.device.empty() && !a.gpu) throw ConfigError("--device " + a.device + " needs --gpu");
  if (a.multi_process == 0) throw ConfigError("--multi_process 0: at least 1 process");
  // The mapping runs a process per entry: a different count asked for would be ignored.
  if (!a.mapping.empty() && a.multi_process_option != nullptr && a.multi_process_option->count() > 0 &&
      a.multi_process != a.mapping.size()) {
    throw ConfigError("--multi_process " + std::to_string(a.multi_process) + " and --folder_to_device_mapping of " +
                      std::to_string(a.mapping.size()) + " entries: the mapping runs one process per entry");
  }
}

// The processes: --folder's, or one per mapping entry, as ds_io does (--multi_process does not
// apply then). Returns process i's folder.
std::vector<std::string> add_processes(const DsIoArgs& a, DsIoPlan& plan) {
  std::vector<std::string> folders;
  std::vector<std::string>& b = plan.bench_args;
  if (!a.folder.empty()) {
    folders.assign(a.multi_process, a.folder);
    b.insert(b.end(), {"--folder", a.folder, "--threads", std::to_string(a.multi_process)});
    return folders;
  }
  for (const std::string& entry : a.mapping) {
    const std::size_t colon = entry.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      throw ConfigError("--folder_to_device_mapping " + entry + ": missing delimiter (:) between FOLDER and N");
    }
    const std::string folder = entry.substr(0, colon);
    if (!std::filesystem::is_directory(folder)) {
      throw ConfigError("--folder_to_device_mapping " + entry + ": " + folder + " is not a folder");
    }
    folders.push_back(folder);
  }
  plan.notes = mapping_notes(a.mapping);
  if (a.gpu) {
    b.emplace_back("--folder-to-device-mapping");
    b.insert(b.end(), a.mapping.begin(), a.mapping.end());
  } else {
    for (const std::string& f : folders) b.insert(b.end(), {"--folder", f});
  }
  b.insert(b.end(), {"--threads", std::to_string(a.mapping.size())});
  return folders;
}

// The file ds_io names, to read (then also every file it would create first) or to write.
void add_files(const DsIoArgs& a, DsIoPlan& plan, const std::vector<std::string>& folders, std::uint64_t loops,
               std::uint64_t warmup_loops) {
  const bool handle = a.engine == "aio_handle";
  // As ds_io's: a file per loop with the handle engine (the basic one always uses one).
  const bool per_loop = a.different_file_each_iteration && handle;
  const std::string name = file_name(a.read, plan.io_size, handle, per_loop);
  std::vector<std::string>& b = plan.bench_args;
  if (!a.read) {
    b.insert(b.end(), {"--write-file", name, "--write-size", a.io_size});  // as given: bench's errors show it so
    return;
  }
  b.insert(b.end(), {"--read-file", name});
  std::uint64_t total = 1;
  if (per_loop) {
    total = loops + warmup_loops;
    if (total > 10000) throw ConfigError("--different_file_each_iteration: at most 10000 loops (a file each)");
  }
  for (std::size_t i = 0; i < folders.size(); ++i) {
    std::string file = name;
    file.replace(file.find("{i}"), 3, std::to_string(i));
    for (std::uint64_t l = 0; l < total; ++l) {
      plan.read_files.push_back(loop_path((std::filesystem::path(folders[i]) / file).string(), static_cast<unsigned>(l)));
    }
  }
}

// The request shape, engine, loops, device and output, in bench's words.
void add_settings(const DsIoArgs& a, std::vector<std::string>& b, std::uint64_t loops, std::uint64_t warmup_loops) {
  b.insert(b.end(), {"--block-size", a.block_size, "--queue-depth", a.queue_depth});
  if (a.single_submit) b.emplace_back("--single-submit");
  b.emplace_back(a.sequential_requests ? "--sequential-requests" : "--overlap-events");
  if (a.validate) b.emplace_back("--validate");
  if (a.engine == "aio_handle") b.emplace_back("--handle");
  if (!a.io_parallel.empty()) b.insert(b.end(), {"--io-parallel", a.io_parallel});
  if (a.include_warmup_time) {
    // The warm-up loops count: they are timed loops.
    b.insert(b.end(), {"--loops", std::to_string(loops + warmup_loops), "--warmup-loops", "0"});
  } else {
    b.insert(b.end(), {"--loops", std::to_string(loops), "--warmup-loops", std::to_string(warmup_loops)});
  }
  if (a.gpu) {
    b.emplace_back("--gpu");
    if (!a.device.empty()) b.insert(b.end(), {"--device", a.device});
    // DeepSpeed's GDS handle or its aio handle: cuFile, or the pinned bounce, never a mix.
    b.insert(b.end(), {"--gds", a.use_gds ? "on" : "off"});
  }
  if (a.json) b.emplace_back("--json");
}

// ds_io creates the read files it does not find, in swapio's pattern, each written whole beside
// its name and renamed into place. A file of another size is someone's data: refused, never
// overwritten.
void create_missing_read_files(const DsIoPlan& plan, const DsIoArgs& a) {
  std::vector<std::string> missing;
  for (const std::string& f : plan.read_files) {
    struct stat st {};
    if (::stat(f.c_str(), &st) != 0) {
      if (std::find(missing.begin(), missing.end(), f) == missing.end()) missing.push_back(f);
      continue;
    }
    if (!S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) != plan.io_size) {
      throw ConfigError("--read: " + f + " exists and is not a file of --io_size " + std::to_string(plan.io_size) +
                        " bytes (" + std::to_string(st.st_size) + "): remove it or give its size");
    }
  }
  if (missing.empty()) return;
  std::vector<SpaceNeed> needs;
  for (const std::string& f : missing) {
    const std::string folder = std::filesystem::path(f).parent_path().string();
    if (needs.empty() || needs.back().folder != folder) check_writable_folder("--read", folder);
    needs.push_back({folder, plan.io_size});
  }
  check_room(needs, "creating the read files", "give a smaller --io_size");
  FILE* say = a.json ? stderr : stdout;
  HostBuffer buffer(plan.io_size);
  Config config;
  config.atomic_replace = true;  // written whole beside the name, then renamed: never a partial file
  for (std::size_t i = 0; i < missing.size(); ++i) {
    fill_pattern(buffer.span(), i + 1, 0);
    std::fprintf(say, "[Start] Create %s of %llu bytes (swapio's pattern)\n", missing[i].c_str(),
                 static_cast<unsigned long long>(plan.io_size));
    std::fflush(say);
    (void)write_file(std::span<const std::byte>(buffer.span()), missing[i], config);
    std::fprintf(say, "[Done] Create read file of %llu bytes\n", static_cast<unsigned long long>(plan.io_size));
  }
  std::fflush(say);
}

}  // namespace

DsIoPlan plan_ds_io(const DsIoArgs& a) {
  check_ds_io_line(a);
  (void)size_arg("--fast_io_size", a.fast_io_size);
  const std::uint64_t loops = count_arg("--loops", a.loops);
  const std::uint64_t warmup_loops = count_arg("--warmup_loops", a.warmup_loops);

  DsIoPlan plan;
  plan.io_size = size_arg("--io_size", a.io_size);
  if (plan.io_size == 0) throw ConfigError("--io_size 0: nothing to move");
  const std::vector<std::string> folders = add_processes(a, plan);
  add_files(a, plan, folders, loops, warmup_loops);
  add_settings(a, plan.bench_args, loops, warmup_loops);
  return plan;
}

int run_ds_io(const DsIoArgs& a) {
  const DsIoPlan plan = plan_ds_io(a);
  // The bench line, parsed and checked as `swapio bench` would be, before any file is made.
  CLI::App app;
  BenchOptions opts;
  BenchArgs args;
  add_bench_options(app, opts, args);
  std::vector<std::string> words{"swapio ds_io"};
  words.insert(words.end(), plan.bench_args.begin(), plan.bench_args.end());
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    throw ConfigError(in_ds_io_words(e.what(), a));
  }
  // The settings' own rules, before any read file is made (bench's other checks need the files).
  try {
    Config settings;
    apply_knob_options(args.knobs, settings);
  } catch (const ConfigError& e) {
    throw ConfigError(in_ds_io_words(e.what(), a));
  }
  create_missing_read_files(plan, a);
  try {
    finish_bench_options(opts, args);
  } catch (const ConfigError& e) {
    throw ConfigError(in_ds_io_words(e.what(), a));
  }
  for (const std::string& note : plan.notes) std::fprintf(stderr, "%s\n", note.c_str());
  std::fflush(stderr);
  try {
    return run_bench(opts);
  } catch (const ConfigError& e) {
    throw ConfigError(in_ds_io_words(e.what(), a));
  }
}

}  // namespace swapio::cli
