#include "common/facts.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "swapio/device.hpp"
#include "swapio/gds.hpp"

#ifndef SWAPIO_VERSION
#define SWAPIO_VERSION "unknown"
#endif
#ifndef SWAPIO_GIT
#define SWAPIO_GIT "unknown"
#endif
#ifndef SWAPIO_BUILD_TYPE
#define SWAPIO_BUILD_TYPE "unknown"
#endif
#ifndef SWAPIO_LIBURING_VERSION
#define SWAPIO_LIBURING_VERSION ""
#endif
#ifndef SWAPIO_PYTHON_FEATURE
#define SWAPIO_PYTHON_FEATURE ""
#endif
#ifndef SWAPIO_MPI_FEATURE
#define SWAPIO_MPI_FEATURE ""
#endif

namespace swapio::cli {
namespace {

std::string read_line(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\n')) line.pop_back();
  return line;
}

}  // namespace

nlohmann::json build_json() {
  const std::string python = SWAPIO_PYTHON_FEATURE;
  const std::string mpi = SWAPIO_MPI_FEATURE;
  return {{"version", SWAPIO_VERSION},
          {"git", SWAPIO_GIT},
          {"build_type", SWAPIO_BUILD_TYPE},
          {"features",
           {{"io_uring", std::string("liburing ") + SWAPIO_LIBURING_VERSION},
            {"aio", true},
            {"psync", true},
            {"cuda", cuda_built()},
            {"python", python.empty() ? nlohmann::json(false) : nlohmann::json(python)},
            {"mpi", mpi.empty() ? nlohmann::json(false) : nlohmann::json(mpi)}}}};
}

std::string version_text() {
  const std::string python = SWAPIO_PYTHON_FEATURE;
  std::string s = std::string("swapio ") + SWAPIO_VERSION + " (git " + SWAPIO_GIT + ", " + SWAPIO_BUILD_TYPE + ")\n";
  s += std::string("engines: io_uring (liburing ") + SWAPIO_LIBURING_VERSION + "), aio (Linux native AIO), psync\n";
  s += std::string("CUDA: ") + (cuda_built() ? "yes (the runtime linked statically)" : "no (built without the CUDA Toolkit)") + "\n";
  if (cuda_built()) {
    std::string why;
    const int gpus = cuda_device_count(&why);
    s += "GPUs visible: " + std::to_string(gpus) + (gpus == 0 ? " (" + why + ")" : std::string()) + "\n";
  }
  s += "GDS: " + gds_summary() + "\n";
  s += "Python package: " + (python.empty() ? std::string("no") : "yes (" + python + ")") + "\n";
  const std::string mpi = SWAPIO_MPI_FEATURE;
  s += "MPI: " + (mpi.empty() ? std::string("no (built without libopenmpi-dev: qualify --fleet is off)") : "yes (" + mpi + ")");
  return s;
}

FolderFacts folder_facts(const std::string& folder) {
  FolderFacts f;
  f.path = folder;
  struct stat st {};
  if (::stat(folder.c_str(), &st) != 0) return f;
  const std::string id = std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
  // mountinfo: "36 35 98:0 /root /mnt opts [optional...] - fstype source superopts"; the last
  // mount of the device wins (a later mount hides an earlier one).
  std::ifstream mounts("/proc/self/mountinfo");
  for (std::string line; std::getline(mounts, line);) {
    std::istringstream in(line);
    std::string mount_id, parent, dev;
    in >> mount_id >> parent >> dev;
    if (dev != id) continue;
    const std::size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    tail >> f.filesystem >> f.mount_source;
  }
  // sysfs: the block device, and for a partition the disk it is on.
  std::error_code ec;
  std::filesystem::path dev = std::filesystem::canonical("/sys/dev/block/" + id, ec);
  if (!ec) {
    if (std::filesystem::exists(dev / "partition")) dev = dev.parent_path();
    f.block_device = dev.filename().string();
    for (const char* model : {"device/model", "device/name"}) {
      f.model = read_line(dev / model);
      if (!f.model.empty()) break;
    }
  }
  return f;
}

nlohmann::json run_facts(const std::vector<std::string>& folders) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  struct utsname u {};
  const bool have_uname = ::uname(&u) == 0;
  char when[32] = {};
  const std::time_t now = std::time(nullptr);
  struct tm utc {};
  if (::gmtime_r(&now, &utc) != nullptr) std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &utc);
  nlohmann::json fs = nlohmann::json::array();
  for (const std::string& folder : folders) {
    const FolderFacts f = folder_facts(folder);
    fs.push_back({{"path", f.path},
                  {"filesystem", f.filesystem},
                  {"mount_source", f.mount_source},
                  {"block_device", f.block_device},
                  {"model", f.model}});
  }
  return {{"schema_version", kReportSchemaVersion},
          {"swapio", build_json()},
          {"host", host},
          {"kernel", have_uname ? std::string(u.sysname) + " " + u.release : ""},
          {"time", when},
          {"folders", fs}};
}

}  // namespace swapio::cli
