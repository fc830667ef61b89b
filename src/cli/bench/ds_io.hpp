// `swapio ds_io`: DeepSpeed's current async I/O harness (deepspeed/nvme, `ds_io`), argument for
// argument, on bench's engine, processes and validation: its command line is translated into
// the `swapio bench` command line it means, and its files are named and created as it does.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace swapio::cli {

struct DsIoArgs {
  std::string folder;
  std::vector<std::string> mapping;  // FOLDER:N
  std::string io_size;
  bool read = false;
  unsigned multi_process = 1;
  const CLI::Option* multi_process_option = nullptr;  // to tell whether --multi_process was given
  std::string block_size = "1M";
  std::string queue_depth = "32";
  bool single_submit = false;
  bool sequential_requests = false;
  bool validate = false;
  std::string engine = "aio_handle";
  std::string loops = "3";
  std::string warmup_loops = "1";
  bool include_warmup_time = false;
  std::string io_parallel;  // empty: 1
  bool gpu = false;
  std::string device;       // swapio's: with --gpu, the device (emulated for machines without a GPU)
  bool use_gds = false;
  bool slow_bounce_buffer = false;
  bool use_accelerator_pin_memory = false;
  bool different_file_each_iteration = false;
  std::string fast_io_size = "64M";
  bool torch_legacy_save = false;
  bool json = false;
};

void add_ds_io_options(CLI::App& app, DsIoArgs& args);

// What a ds_io line means: the bench arguments, and the read files ds_io would create first.
struct DsIoPlan {
  std::vector<std::string> bench_args;  // without the program name and "bench"
  std::uint64_t io_size = 0;
  std::vector<std::string> read_files;  // one per process (reads only)
  // One line each where DeepSpeed's ds_io would read the mapping otherwise (another count of
  // processes, another folder): printed on stderr before the run.
  std::vector<std::string> notes;
};
// Checks the line as ds_io's validate_args does (and what swapio cannot do). Throws ConfigError
// with one line naming the argument; touches no file.
DsIoPlan plan_ds_io(const DsIoArgs& args);

// A message about the bench line plan_ds_io made, in ds_io's words: each bench option named as
// the ds_io option it came from (--block-size as --block_size, --threads N as --multi_process N
// or the mapping's entries, ...), and bench's advice that ds_io's line cannot follow left out.
std::string in_ds_io_words(const std::string& message, const DsIoArgs& args);

// Creates the missing read files (swapio's pattern, written whole then renamed into place), then
// runs the bench line. Returns bench's exit status.
int run_ds_io(const DsIoArgs& args);

}  // namespace swapio::cli
