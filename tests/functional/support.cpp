#include "support.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "swapio/file.hpp"

namespace swapio::test {

TempDir::TempDir() {
  const char* base = std::getenv("SWAPIO_TEST_DIR");
  if (base == nullptr || *base == '\0') base = std::getenv("TMPDIR");
  if (base == nullptr || *base == '\0') base = "/tmp";
  std::filesystem::create_directories(base);
  std::string templ = std::string(base) + "/swapio-test-" + std::string(6, 'X');  // mkdtemp's template
  if (::mkdtemp(templ.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + templ + ": " + std::strerror(errno));
  }
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {
std::uint64_t mix(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
}  // namespace

std::byte pattern_byte(std::uint64_t pos, std::uint64_t seed) {
  return static_cast<std::byte>(mix((pos >> 3) ^ (seed << 48)) >> (8 * (pos & 7)));
}

void fill_pattern(std::span<std::byte> buf, std::uint64_t pos, std::uint64_t seed) {
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = pattern_byte(pos + i, seed);
}

std::int64_t first_pattern_mismatch(std::span<const std::byte> buf, std::uint64_t pos, std::uint64_t seed) {
  for (std::size_t i = 0; i < buf.size(); ++i) {
    if (buf[i] != pattern_byte(pos + i, seed)) return static_cast<std::int64_t>(i);
  }
  return -1;
}

void upload_pattern(Device& device, DeviceSpan span, std::uint64_t pos, std::uint64_t seed) {
  std::vector<std::byte> host(span.size);
  fill_pattern(host, pos, seed);
  device.copy_to_device(span, host.data());
}

std::vector<std::byte> download(Device& device, DeviceSpan span) {
  std::vector<std::byte> host(span.size);
  device.copy_to_host(host.data(), span);
  return host;
}

void write_plain(const std::string& path, std::span<const std::byte> data) {
  FileDescriptor fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  pwrite_exact(fd.get(), data.data(), data.size(), 0, path);
}

std::vector<std::byte> read_plain(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  std::vector<std::byte> out(file_size(path));
  pread_exact(fd.get(), out.data(), out.size(), 0, path);
  return out;
}

std::uint64_t file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw std::runtime_error("stat " + path + ": " + std::strerror(errno));
  return static_cast<std::uint64_t>(st.st_size);
}


ScratchMount::ScratchMount(const std::string& parent, const std::string& name, const std::string& fstype,
                           const std::string& options, unsigned long flags)
    : path_(parent + "/" + name) {
  std::filesystem::create_directory(path_);
  mounted_ = ::mount("swapio-test", path_.c_str(), fstype.c_str(), flags, options.empty() ? nullptr : options.c_str()) == 0;
  if (!mounted_) why_not_ = "cannot mount a " + fstype + " (needs root): " + std::strerror(errno);
}

ScratchMount::~ScratchMount() {
  if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
}

namespace {

// Runs a command line quietly; its exit status, or -1.
int run_quietly(const std::string& command) {
  const int rc = std::system((command + " >/dev/null 2>&1").c_str());
  return rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace

LoopMount::LoopMount(const std::string& parent, const std::string& name, const std::string& fstype, unsigned size_mib)
    : path_(parent + "/" + name), image_(parent + "/" + name + ".img") {
  if (::geteuid() != 0) {
    why_not_ = "not root: a loop device needs root";
    return;
  }
  std::filesystem::create_directory(path_);
  if (::truncate(image_.c_str(), 0) != 0 && errno != ENOENT) {
    why_not_ = "cannot make the image: " + std::string(std::strerror(errno));
    return;
  }
  if (run_quietly("truncate -s " + std::to_string(size_mib) + "M '" + image_ + "'") != 0 ||
      run_quietly("mkfs." + fstype + " -q -F '" + image_ + "'") != 0) {
    why_not_ = "mkfs." + fstype + " failed (is e2fsprogs installed?)";
    return;
  }
  mounted_ = run_quietly("mount -o loop '" + image_ + "' '" + path_ + "'") == 0;
  if (!mounted_) why_not_ = "mount -o loop refused (no loop device here?)";
}

LoopMount::~LoopMount() {
  // A loop device set up by mount -o loop is detached by the unmount (autoclear).
  if (mounted_ && run_quietly("umount '" + path_ + "'") != 0) run_quietly("umount -l '" + path_ + "'");
  ::unlink(image_.c_str());
}

std::uint64_t LoopMount::free_bytes() const {
  struct statvfs st {};
  if (::statvfs(path_.c_str(), &st) != 0) throw std::runtime_error("statvfs " + path_ + ": " + std::strerror(errno));
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

std::size_t open_fd_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}



bool supports_direct(const std::string& folder) {
  const std::string probe = folder + "/.direct-probe";
  bool direct = false;
  try {
    direct = File::open(probe, Access::write, DirectMode::automatic).direct();
  } catch (...) {
    direct = false;
  }
  ::unlink(probe.c_str());
  return direct;
}

bool thp_allowed() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string s;
  std::getline(f, s);
  return !s.empty() && s.find("[never]") == std::string::npos;
}

bool kernel_collapses() {
  struct utsname u {};
  int major = 0, minor = 0;
  return ::uname(&u) == 0 && std::sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
         (major > 6 || (major == 6 && minor >= 1));
}

bool huge_pages_possible() { return thp_allowed() || kernel_collapses(); }

}  // namespace swapio::test
