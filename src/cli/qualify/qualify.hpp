// `swapio qualify`: is this node's storage path fit for tensor swapping? Runs a profile's
// workloads (fixtures/profiles/*.json, the format of the performance suite) on one or more
// folders, compares each with its floor, prints a table and a verdict, and writes a JSON report
// and a JUnit XML file for CI systems and fleet dashboards.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "qualify/floors.hpp"
#include "qualify/profile.hpp"

namespace swapio::cli {

struct QualifyOptions {
  std::string profile;               // empty: the built-in quick profile
  std::vector<std::string> folders;  // empty: a temporary folder under the current directory
  std::string json;                  // report paths (empty: not written)
  std::string junit;
  std::string ceiling;               // a command running fio with contiguous buffers
  unsigned rounds = 0;               // 0: the profile's
  std::string gpus;                  // "all" or "0,2": GPU workloads once per GPU ("": as written)
  bool fleet = false;                // under MPI: every rank's node, one fleet report (fleet_mpi.cpp)
  double fleet_timeout = 3600;       // seconds any rank waits for the others at a sync point
};

void add_qualify_options(CLI::App& app, QualifyOptions& o);
// After parsing: refuses an option that would be ignored (--fleet-timeout without --fleet).
// Throws ConfigError.
void finish_qualify_options(const CLI::App& app, const QualifyOptions& o);

// The profile used without --profile.
extern const char* const kQuickProfile;

// Returns 0 when every floor holds, 1 when one does not. Throws ConfigError for bad input
// (exit status 2) and other exceptions when a measurement cannot run (exit status 1).
int run_qualify(const QualifyOptions& o);

// What fleet qualification adds to a node's run: quiet (nothing printed), called before and
// after each workload, and the JSON report (as --json writes it) handed back.
struct QualifyHooks {
  bool quiet = false;
  std::function<void(std::size_t)> before_workload;
  std::function<void(std::size_t, const WorkloadResult&)> after_workload;
  nlohmann::json* report = nullptr;
};
int run_qualify(const QualifyOptions& o, const QualifyHooks& hooks);

// The profile qualify runs: --profile or the built-in one, its GPU workloads expanded over
// --gpus. Throws ConfigError.
Profile qualify_profile(const QualifyOptions& o);

// qualify --fleet, under an MPI launcher. Throws ConfigError in a build without MPI.
int run_qualify_fleet(const QualifyOptions& o);

}  // namespace swapio::cli
