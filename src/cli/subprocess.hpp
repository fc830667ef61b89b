// Runs a program and collects what it printed: for the measurements that drive `swapio bench`
// and fio as separate processes, as a user would.
#pragma once

#include <string>
#include <vector>

namespace swapio::cli {

struct Finished {
  int status = -1;   // exit status, or 128 + signal
  std::string out;
  std::string err;
  double cpu_seconds = 0;  // user + system of the process and its waited-for children
  double wall_seconds = 0;
};

// Throws swapio::Error when the program cannot be started (not found: errno ENOENT).
Finished run_program(const std::vector<std::string>& argv);

}  // namespace swapio::cli
