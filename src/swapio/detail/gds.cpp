#include "swapio/detail/gds.hpp"

#include <cerrno>
#include <map>
#include <mutex>

#include "swapio/detail/driver.hpp"
#include "swapio/detail/fork_guard.hpp"
#include "swapio/error.hpp"
#include "swapio/gds.hpp"

namespace swapio::detail {
namespace {

// Device memory known to the GDS path, by its first byte.
struct Buffer {
  std::size_t bytes = 0;
  bool owned = false;       // allocated by swapio: registered on its first GDS op
  bool registered = false;  // cuFileBufRegister succeeded
  std::string refused;      // why cuFile refused to register it: it goes unregistered
};

struct Registry {
  std::mutex mutex;
  std::map<std::uintptr_t, Buffer> buffers;
};

Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: device memory may be freed during exit
  return *r;
}

std::mutex* registry_mutex() { return &registry().mutex; }

// Set up at load time, before any thread can be inside it: a child forked while another thread
// registers a buffer does not inherit the lock held (see fork_guard.hpp).
[[maybe_unused]] const bool registry_guarded = (registry(), guard_across_fork<&registry_mutex>(), true);

std::uintptr_t address(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// The registry's buffer holding [p, p+bytes), or end(). With the mutex held.
std::map<std::uintptr_t, Buffer>::iterator holding(Registry& r, const void* p, std::size_t bytes) {
  auto it = r.buffers.upper_bound(address(p));
  if (it == r.buffers.begin()) return r.buffers.end();
  --it;
  return address(p) + bytes <= it->first + it->second.bytes ? it : r.buffers.end();
}

// Where cuFile is told [memory, memory+bytes) is: a registered buffer's base and the offset in
// it, else the address itself (unregistered; `refused` says why when cuFile refused swapio's own
// allocation). Registers swapio's own allocations on their first use.
struct CuFileAddress {
  const void* base;
  std::uint64_t offset;
  std::string refused;
};

CuFileAddress cufile_address(const CuFileLibrary& lib, const void* memory, std::size_t bytes) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  const auto it = holding(r, memory, bytes);
  if (it == r.buffers.end()) return {memory, 0, ""};
  Buffer& b = it->second;
  if (b.owned && !b.registered && b.refused.empty()) {
    const void* base = reinterpret_cast<const void*>(it->first);
    // Refused (the GPU's BAR space is full, say): cuFile still moves it, through its own
    // bounce buffers, so the op goes on unregistered, and its result says so.
    const cufile::Error e = lib.buf_register(base, b.bytes, 0);
    if (e.err == cufile::kSuccess) b.registered = true;
    else b.refused = "cuFileBufRegister refused swapio's allocation (" + cufile_status_text(e) +
                     "): it moves unregistered, through cuFile's own bounce buffers";
  }
  if (!b.registered) return {memory, 0, b.refused};
  return {reinterpret_cast<const void*>(it->first), address(memory) - it->first, ""};
}

// Why GDS cannot run for memory of an emulated or a CUDA device, or "" (*lib set, its driver
// open). The driver is opened only for memory the library can reach.
std::string device_why_not(bool emulated, const CuFileLibrary** lib) {
  std::string why;
  const CuFileLibrary* loaded = cufile_library(&why);
  if (loaded == nullptr) return why;
  if (emulated && !loaded->reaches_emulation) return loaded->name + " reaches CUDA memory only, not the host emulation's";
  if (!emulated && loaded->reaches_emulation) {
    return loaded->name + " is a stand-in that reaches the host emulation's memory only";
  }
  *lib = cufile_driver(&why);
  return *lib == nullptr ? why : "";
}

// Why GDS cannot run for an op on `device`'s memory and `file`, or "" when it can: *lib is set
// then, and *compat says whether cuFile runs in its compat mode (gds=on only).
std::string why_not(const Config& config, const File& file, Device& device, const CuFileLibrary** lib, bool* compat) {
  if (config.gds == GdsMode::off) return "gds=off";
  std::string why = device_why_not(dynamic_cast<EmulatedDevice*>(&device) != nullptr, lib);
  if (!why.empty()) return why;
  if (!file.direct()) {
    return config.direct == DirectMode::off ? "direct=off, and cuFile needs O_DIRECT" : "the filesystem refuses O_DIRECT";
  }
  *compat = !nvidia_fs_loaded();
  if (*compat && config.gds == GdsMode::automatic) return "nvidia-fs not loaded, cuFile compat mode";
  return "";
}

}  // namespace

GdsChoice choose_gds(const Config& config, const File& file, Device& device) {
  GdsChoice choice;
  const CuFileLibrary* lib = nullptr;
  bool compat = false;
  choice.note = why_not(config, file, device, &lib, &compat);
  if (choice.note.empty()) {
    cufile::Descr descr{};
    descr.type = cufile::kHandleTypeOpaqueFd;
    descr.handle.fd = file.fd();
    cufile::Handle handle = nullptr;
    const cufile::Error e = lib->handle_register(&handle, &descr);
    if (e.err == cufile::kSuccess) {
      choice.file = std::make_shared<GdsFile>(*lib, handle);
      if (compat) choice.note = "cuFile compat mode: nvidia-fs not loaded";
      return choice;
    }
    choice.note = "cuFileHandleRegister failed: " + cufile_status_text(e);
  }
  if (config.gds == GdsMode::on) {
    throw ConfigError("gds=on: no GPUDirect Storage for " + file.name() + ": " + choice.note);
  }
  return choice;
}

void gds_move(const GdsFile& gds, Direction direction, Device& device, std::byte* memory, std::uint64_t offset,
              std::uint64_t length, const std::string& path, const Fence* after, SliceStats& stats) {
  const CurrentDevice current(device.driver(), device.ordinal());
  // cuFile reads and writes device memory outside any stream: the caller's queued work first.
  if (after != nullptr) device.driver().synchronize(after->event);
  const CuFileLibrary& lib = gds.library();
  const CuFileAddress where = cufile_address(lib, memory, static_cast<std::size_t>(length));
  const void* base = where.base;
  const std::uint64_t base_offset = where.offset;
  stats.note = where.refused;
  const bool read = direction == Direction::read;
  const char* call = read ? "cuFileRead" : "cuFileWrite";
  const Clock::time_point start = Clock::now();
  for (std::uint64_t done = 0; done < length;) {
    const auto file_off = static_cast<off_t>(offset + done);
    const auto buf_off = static_cast<off_t>(base_offset + done);
    const auto want = static_cast<std::size_t>(length - done);
    const ssize_t ret = read ? lib.read(gds.handle(), const_cast<void*>(base), want, file_off, buf_off)
                             : lib.write(gds.handle(), base, want, file_off, buf_off);
    if (ret == -1) throw_io_error(errno, call, path, offset + done, want);
    if (ret < 0) throw_io_error(EIO, call, path, offset + done, want, cufile_error_text(static_cast<int>(-ret)));
    if (ret == 0) {
      throw_io_error(read ? ENODATA : EIO, call, path, offset + done, want,
                     read ? "end of file reached early" : "cuFile wrote nothing");
    }
    done += static_cast<std::uint64_t>(ret);
    if (done < length) ++stats.resubmits;
  }
  stats.latencies_ns.push_back(ns_since(start));
  stats.bytes += length;
  ++stats.requests;
}

void gds_note_allocation(const void* base, std::size_t bytes) noexcept {
  try {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    r.buffers[address(base)] = Buffer{bytes, true, false, ""};
  } catch (...) {  // out of memory for the entry: the allocation goes unregistered
  }
}

void gds_forget_allocation(const void* base) noexcept {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  const auto it = r.buffers.find(address(base));
  if (it == r.buffers.end()) return;
  if (it->second.registered) {
    // Only the process that registered it deregisters (a forked child finds no driver).
    if (const CuFileLibrary* lib = cufile_driver(nullptr)) (void)lib->buf_deregister(base);
  }
  r.buffers.erase(it);
}

}  // namespace swapio::detail

namespace swapio {

GdsInfo gds_info() {
  GdsInfo info;
  info.library = detail::cufile_library_name();
  const detail::CuFileLibrary* lib = detail::cufile_library(&info.why_not);
  info.loaded = lib != nullptr;
  if (lib != nullptr) info.version = lib->version;
  info.nvidia_fs = detail::nvidia_fs_loaded();
  return info;
}

std::string gds_summary() {
  const GdsInfo info = gds_info();
  if (!info.loaded) return "no: " + info.why_not;
  std::string s = "cuFile";
  if (info.version > 0) s += " " + std::to_string(info.version / 1000) + "." + std::to_string(info.version % 1000 / 10);
  s += " (" + info.library + ")";
  const detail::CuFileLibrary* lib = detail::cufile_library(nullptr);
  // NVIDIA's library moves CUDA memory only: without CUDA in the build there is none to move.
  if (!detail::cuda_built() && lib != nullptr && !lib->reaches_emulation) {
    return "no: " + s + " is installed, but " + detail::kNoCudaBuild;
  }
  return s + ", nvidia-fs " + (info.nvidia_fs ? "loaded" : "not loaded: compat mode");
}

std::string gds_unavailable(bool emulated) {
  const detail::CuFileLibrary* lib = nullptr;
  return detail::device_why_not(emulated, &lib);
}

void gds_register(const DeviceSpan& span) {
  if (span.device == nullptr || span.data == nullptr || span.size == 0) {
    throw ConfigError("gds_register: an empty or null device span");
  }
  std::string why;
  const detail::CuFileLibrary* lib = detail::cufile_driver(&why);
  if (lib == nullptr) throw ConfigError("GPUDirect Storage is unavailable: " + why);
  span.device->check_span(span, "gds_register");
  const detail::CurrentDevice current(span.device->driver(), span.device->ordinal());
  detail::Registry& r = detail::registry();
  std::lock_guard lock(r.mutex);
  const detail::cufile::Error e = lib->buf_register(span.data, span.size, 0);
  if (e.err != detail::cufile::kSuccess) {
    throw_io_error(EINVAL, "cuFileBufRegister", span.device->name(), 0, span.size, detail::cufile_status_text(e));
  }
  r.buffers[detail::address(span.data)] = detail::Buffer{span.size, false, true, ""};
}

void gds_deregister(const DeviceSpan& span) {
  std::string why;
  const detail::CuFileLibrary* lib = detail::cufile_driver(&why);
  if (lib == nullptr) throw ConfigError("GPUDirect Storage is unavailable: " + why);
  detail::Registry& r = detail::registry();
  std::lock_guard lock(r.mutex);
  const detail::cufile::Error e = lib->buf_deregister(span.data);
  if (e.err != detail::cufile::kSuccess) {
    throw_io_error(EINVAL, "cuFileBufDeregister", span.device != nullptr ? span.device->name() : "device memory", 0,
                   span.size, detail::cufile_status_text(e));
  }
  const auto it = r.buffers.find(detail::address(span.data));
  if (it != r.buffers.end()) {
    if (it->second.owned) it->second.registered = false;
    else r.buffers.erase(it);
  }
}

std::size_t gds_registered_buffers() {
  detail::Registry& r = detail::registry();
  std::lock_guard lock(r.mutex);
  std::size_t n = 0;
  for (const auto& [base, b] : r.buffers) n += b.registered ? 1 : 0;
  return n;
}

}  // namespace swapio
