// `swapio step`'s checks of the folders and the page-locked memory, before any file is created.
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>
#include <map>

#include "common/report_text.hpp"
#include "step/step_files.hpp"
#include "step/step_options.hpp"
#include "step/step_rank.hpp"
#include "swapio/error.hpp"
#include "swapio/file.hpp"

namespace swapio::cli {
namespace {

std::string gib(double bytes) { return fmt("%.2f GiB", bytes / double(1ull << 30)); }
std::string mib(double bytes) { return fmt("%.1f MiB", bytes / double(1ull << 20)); }

std::uint64_t available_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return 0;
}

// The page-locked bytes a rank may use, and what sets that.
std::pair<std::uint64_t, std::string> pinned_budget(const StepOptions& o) {
  std::uint64_t budget = o.pinned_budget;
  std::string source = o.budget_source;
  if (budget == 0) {
    budget = static_cast<std::uint64_t>(static_cast<double>(available_memory()) * 0.8) / o.ranks;
    source = "80% of the available memory, shared by " + std::to_string(o.ranks) + (o.ranks == 1 ? " rank" : " ranks");
  }
  struct rlimit rl {};
  if (::geteuid() != 0 && ::getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < budget) {
    budget = rl.rlim_cur;
    source = "RLIMIT_MEMLOCK (ulimit -l)";
  }
  return {budget, source};
}

void check_budget(const StepOptions& o, const StepModel& m) {
  const auto [budget, source] = pinned_budget(o);
  for (Schedule s : o.schedules) {
    const unsigned buffers = slots_needed(s, o.prefetch, o.write_behind) * m.buffers_per_group();
    const double need = static_cast<double>(buffers) * static_cast<double>(m.buffer_bytes());
    if (need > static_cast<double>(budget)) {
      throw ConfigError("--schedule " + std::string(to_string(s)) + " needs " + std::to_string(buffers) +
                        " page-locked buffers of " + mib(double(m.buffer_bytes())) + " (" + gib(need) +
                        ") per rank, more than the " + gib(double(budget)) + " allowed by " + source +
                        " (use a smaller --sub-group-size, or more --pinned-memory)");
    }
  }
}

void check_folder(const StepOptions& o, const std::string& folder) {
  struct stat st {};
  if (::stat(folder.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw ConfigError("--folder " + folder + ": no such folder");
  }
  if (::access(folder.c_str(), W_OK | X_OK) != 0) throw ConfigError("--folder " + folder + ": not writable here");
  if (o.ds_config.direct != DirectMode::off && direct_offset_alignment(folder, DirectMode::automatic) == 0) {
    throw ConfigError("--folder " + folder + ": its filesystem cannot take O_DIRECT, which DeepSpeed's swappers use "
                      "(put it on a drive, or pass --direct off to measure buffered I/O)");
  }
}

// No file the run would create may exist: the run never overwrites what it did not make.
void check_no_files(const StepOptions& o, const StepModel& m) {
  for (unsigned r = 0; r < o.ranks; ++r) {
    for (const std::string& p : rank_files(m, o.folders, r)) {
      struct stat st {};
      if (::lstat(p.c_str(), &st) == 0) {
        throw ConfigError(p + " exists: swapio step creates its files and removes them, and never touches one it did "
                          "not create (remove it, or use another --folder)");
      }
    }
  }
}

// The most bytes the run keeps at once in each filesystem: the ceiling's scratch files (kept for
// the whole run) and the largest schedule's files (removed before the next schedule runs).
void check_space(const StepOptions& o, const StepModel& m, std::uint64_t ceiling_bytes) {
  struct Room {
    std::string folder;
    std::uint64_t need = 0;
  };
  std::vector<dev_t> device;  // each folder's filesystem, by folder index
  std::map<dev_t, Room> rooms;
  for (const std::string& folder : o.folders) {
    struct stat st {};
    if (::stat(folder.c_str(), &st) != 0) throw_io_error(errno, "stat", folder);
    device.push_back(st.st_dev);
    rooms[st.st_dev].folder = folder;
    rooms[st.st_dev].need += 2 * ceiling_bytes * o.ranks;  // two scratch files a rank
  }
  std::map<dev_t, std::uint64_t> largest;  // the largest schedule's files
  for (Schedule s : o.schedules) {
    std::map<dev_t, std::uint64_t> need;
    for (unsigned r = 0; r < o.ranks; ++r) {
      for (const SubGroup& g : m.groups()) {
        const unsigned files = m.tensors() + (m.shape().swap_grads ? 1 : 0);  // the gradient last
        for (unsigned t = 0; t < files; ++t) {
          need[device[step_file_folder(m, o.folders.size(), r, s, g, t)]] += g.aligned_numel * StepModel::kElementBytes;
        }
      }
    }
    for (const auto& [dev, n] : need) largest[dev] = std::max(largest[dev], n);
  }
  for (const auto& [dev, n] : largest) rooms[dev].need += n;
  for (const auto& [dev, room] : rooms) {
    struct statvfs v {};
    if (::statvfs(room.folder.c_str(), &v) != 0) throw_io_error(errno, "statvfs", room.folder);
    const auto free_bytes = static_cast<std::uint64_t>(v.f_bavail) * v.f_frsize;
    if (room.need > free_bytes) {
      throw ConfigError("--folder " + room.folder + ": the run needs " + gib(double(room.need)) + " there (every rank's " +
                        "files) and its filesystem has " + gib(double(free_bytes)) + " free");
    }
  }
}

}  // namespace

void check_step_targets(const StepOptions& o, const StepModel& m, std::uint64_t ceiling_bytes) {
  if (m.groups().empty()) {
    throw ConfigError("--params " + o.params_text + ": every sub-group of a rank is under max(1 MiB, block size) and "
                      "stays in memory, as DeepSpeed keeps it: there is nothing to swap");
  }
  for (const std::string& folder : o.folders) check_folder(o, folder);
  check_budget(o, m);
  check_no_files(o, m);
  check_space(o, m, ceiling_bytes);
}

}  // namespace swapio::cli
