// What a report says about the build and the run: swapio's version, revision, build type and
// features (for --version and every JSON report), and the facts of the run (host, kernel, time,
// each folder's filesystem and block device).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace swapio::cli {

// The version of every JSON report's layout: a program reading one checks it first.
inline constexpr int kReportSchemaVersion = 1;

// `swapio --version`: "swapio 0.1.0 (git 1a2b3c4, Release)" and a line per feature.
std::string version_text();
// {"version", "git", "build_type", "features": {"io_uring", "aio", "psync", "cuda", "python", "mpi"}}.
nlohmann::json build_json();

// A folder's filesystem (from /proc/self/mountinfo) and block device (from sysfs).
struct FolderFacts {
  std::string path;
  std::string filesystem;    // "ext4", "xfs", "tmpfs"; "" when not found
  std::string mount_source;  // "/dev/vda1"
  std::string block_device;  // "vda" (the whole disk, for a partition); "" for none
  std::string model;         // the device's model string from sysfs; "" when it has none
};
FolderFacts folder_facts(const std::string& folder);

// {"schema_version", "swapio": build_json(), "host", "kernel", "time" (UTC, ISO 8601),
//  "folders": [{"path", "filesystem", "mount_source", "block_device", "model"}]}.
nlohmann::json run_facts(const std::vector<std::string>& folders);

}  // namespace swapio::cli
