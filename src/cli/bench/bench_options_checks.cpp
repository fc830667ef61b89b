// Checks of the files and folders a command reads and writes: kinds, permissions, alignment and
// free space, made before any file is touched.
#include "bench/bench_options_checks.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "swapio/error.hpp"
#include "swapio/file.hpp"

namespace swapio::cli {

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

// A new file's alignment is its folder's. Checked here so that a refusal touches no file (a
// worker would refuse it only after opening, and so creating, its file).
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
    if (align == 0 && o.gpu && o.config.gds == GdsMode::on) {
      throw ConfigError("--gds on: " + p + " is not read or written with O_DIRECT here (" +
                        (o.config.direct == DirectMode::off ? "--direct off" : "the filesystem refuses it") +
                        "), and cuFile needs it: no GPUDirect Storage there");
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

}  // namespace swapio::cli
