// `swapio bench` options: every argument of DeepSpeed's test_ds_aio.py harness with its meaning,
// in GNU spelling (the harness's underscore spelling is accepted too), and their validation.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/knob_options.hpp"
#include "swapio/config.hpp"

namespace swapio::cli {

struct BenchOptions {
  std::string read_file;                // read this file (must exist)
  std::string write_file;               // process i writes <write_file>.<i>
  std::uint64_t write_size = 0;         // bytes each process writes
  std::vector<std::string> folders;     // process i uses folders[i % n]
  unsigned threads = 1;                 // worker processes
  bool handle = false;                  // Handle (persistent, io_parallel threads) instead of basic
  unsigned loops = 1;
  unsigned warmup_loops = 0;
  bool validate = false;
  bool gpu = false;                     // the tensor lives in device memory
  std::string device = "cuda";          // with gpu: cuda, cuda:N or emulated
  std::vector<std::string> devices;     // from --folder-to-device-mapping: the device of folders[i]
  bool json = false;
  bool quick = false;                   // write then read back a temporary file
  unsigned stall_timeout = 600;         // seconds without any worker progress before giving up (0: never)
  Config config;

  // The file process i reads or writes for one direction ({l} in its name, when there, stands for
  // the loop: a different file per loop).
  std::string path_for(bool write, unsigned process) const;
  // Every file process i reads or writes: one per loop (warm-ups included) where the name has {l}.
  std::vector<std::string> files_for(bool write, unsigned process) const;
  // The device process i uses ("" without --gpu).
  std::string device_for(unsigned process) const;

  // The options and every knob of config (knobs_to_json), one object: what a worker receives
  // (config_from_json reads its knobs back) and what --json reports.
  nlohmann::json to_json() const;
};

// A size argument (K/M/G/T suffixes); ConfigError "<name>: ..." otherwise.
std::uint64_t size_arg(const char* name, const std::string& text);

// The file of loop `loop`: {l} in path's name replaced by the loop's number.
std::string loop_path(const std::string& path, unsigned loop);
// Where the file's name starts in path ({i} and {l} stand only there, never in its folder).
std::size_t name_start(const std::string& path);
// Whether token ({i}, {l}) stands in the file's name of path.
bool name_has(const std::string& path, const char* token);

// Registers the bench options on app (its strings are parsed into opts after app.parse()).
struct BenchArgs {
  std::string write_size;
  std::string device;                    // empty: not given
  std::vector<std::string> mapping;      // FOLDER:N entries
  KnobArgs knobs;
  bool accelerator_pin_memory = false;  // accepted, DeepSpeed's spelling; changes nothing
};
void add_bench_options(CLI::App& app, BenchOptions& opts, BenchArgs& args);

// Throws ConfigError "<what>: ..." unless folder is a folder this process may create files in.
void check_writable_folder(const std::string& what, const std::string& folder);
// The same for the folder a file would be created in.
void check_writable_file_folder(const std::string& what, const std::string& file);

// What a subcommand will write at most at one time, folder by folder: the folders on one
// filesystem share its free space. Throws ConfigError "<who> needs about X free in A, B (...);
// it has Y" for the first filesystem it does not fit in. A folder that cannot be looked at is
// left for the write to report.
struct SpaceNeed {
  std::string folder;
  std::uint64_t bytes = 0;
};
void check_room(const std::vector<SpaceNeed>& needs, const std::string& who, const std::string& advice);

// Turns the strings into values and checks everything the harness's validate_args checks, and
// more. Throws ConfigError with one line naming the argument and the problem; touches no file.
void finish_bench_options(BenchOptions& opts, const BenchArgs& args);

}  // namespace swapio::cli
