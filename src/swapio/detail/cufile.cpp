#include "swapio/detail/cufile.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>

#include "swapio/detail/driver.hpp"
#include "swapio/detail/fork_guard.hpp"

namespace swapio::detail {
namespace cufile {

namespace {

struct Status {
  int err;
  const char* name;
  const char* meaning;
};

constexpr Status kStatuses[] = {
    {0, "CU_FILE_SUCCESS", "success"},
    {5001, "CU_FILE_DRIVER_NOT_INITIALIZED", "the nvidia-fs driver is not loaded, or cuFile's driver is not open"},
    {5002, "CU_FILE_DRIVER_INVALID_PROPS", "invalid driver properties"},
    {5003, "CU_FILE_DRIVER_UNSUPPORTED_LIMIT", "a driver property is out of range"},
    {5004, "CU_FILE_DRIVER_VERSION_MISMATCH", "nvidia-fs and libcufile versions do not match"},
    {5005, "CU_FILE_DRIVER_VERSION_READ_ERROR", "the nvidia-fs version cannot be read"},
    {5006, "CU_FILE_DRIVER_CLOSING", "cuFile's driver is shutting down"},
    {5007, "CU_FILE_PLATFORM_NOT_SUPPORTED", "GDS is not supported on this platform"},
    {5008, "CU_FILE_IO_NOT_SUPPORTED", "GDS is not supported on this file or filesystem"},
    {5009, "CU_FILE_DEVICE_NOT_SUPPORTED", "GDS is not supported on this GPU"},
    {5010, "CU_FILE_NVFS_DRIVER_ERROR", "an nvidia-fs ioctl failed"},
    {5011, "CU_FILE_CUDA_DRIVER_ERROR", "a CUDA driver call failed"},
    {5012, "CU_FILE_CUDA_POINTER_INVALID", "the address is not device memory cuFile can reach"},
    {5013, "CU_FILE_CUDA_MEMORY_TYPE_INVALID", "the memory type is not supported"},
    {5014, "CU_FILE_CUDA_POINTER_RANGE_ERROR", "the range leaves its allocation"},
    {5015, "CU_FILE_CUDA_CONTEXT_MISMATCH", "the CUDA context does not match the memory's"},
    {5016, "CU_FILE_INVALID_MAPPING_SIZE", "beyond the largest pinned size"},
    {5017, "CU_FILE_INVALID_MAPPING_RANGE", "beyond the registered range"},
    {5018, "CU_FILE_INVALID_FILE_TYPE", "not a regular file"},
    {5019, "CU_FILE_INVALID_FILE_OPEN_FLAG", "the descriptor's open flags are not supported"},
    {5020, "CU_FILE_DIO_NOT_SET", "the descriptor is not open with O_DIRECT"},
    {5022, "CU_FILE_INVALID_VALUE", "an invalid argument"},
    {5023, "CU_FILE_MEMORY_ALREADY_REGISTERED", "the buffer is already registered"},
    {5024, "CU_FILE_MEMORY_NOT_REGISTERED", "the buffer is not registered"},
    {5025, "CU_FILE_PERMISSION_DENIED", "permission denied by the driver or the file"},
    {5026, "CU_FILE_DRIVER_ALREADY_OPEN", "cuFile's driver is already open"},
    {5027, "CU_FILE_HANDLE_NOT_REGISTERED", "the file handle is not registered"},
    {5028, "CU_FILE_HANDLE_ALREADY_REGISTERED", "the descriptor is already registered"},
    {5029, "CU_FILE_DEVICE_NOT_FOUND", "no GPU found"},
    {5030, "CU_FILE_INTERNAL_ERROR", "cuFile internal error (see cufile.log)"},
    {5031, "CU_FILE_GETNEWFD_FAILED", "a new descriptor could not be obtained"},
    {5033, "CU_FILE_NVFS_SETUP_ERROR", "nvidia-fs failed to set up"},
    {5034, "CU_FILE_IO_DISABLED", "GDS is disabled for this file by cufile.json"},
    {5035, "CU_FILE_BATCH_SUBMIT_FAILED", "a batch submission failed"},
    {5036, "CU_FILE_GPU_MEMORY_PINNING_FAILED", "GPU memory could not be pinned"},
    {5037, "CU_FILE_BATCH_FULL", "the batch queue is full"},
    {5038, "CU_FILE_ASYNC_NOT_SUPPORTED", "stream I/O is not supported"},
};

const Status* find(int err) noexcept {
  for (const Status& s : kStatuses) {
    if (s.err == err) return &s;
  }
  return nullptr;
}

}  // namespace

const char* error_name(int err) noexcept {
  const Status* s = find(err);
  return s != nullptr ? s->name : "CU_FILE_UNKNOWN_ERROR";
}
const char* error_meaning(int err) noexcept {
  const Status* s = find(err);
  return s != nullptr ? s->meaning : "an error this build does not know";
}

}  // namespace cufile

namespace {

template <typename F>
bool resolve(void* lib, const char* symbol, F* out) {
  *out = reinterpret_cast<F>(::dlsym(lib, symbol));
  return *out != nullptr;
}

struct Loaded {
  CuFileLibrary library;
  std::string why;  // why it is not loaded
  bool ok = false;
};

Loaded load() {
  Loaded l;
  CuFileLibrary& c = l.library;
  c.name = cufile_library_name();
  void* lib = ::dlopen(c.name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* e = ::dlerror();
    const std::string detail = e != nullptr ? e : "";
    l.why = detail.find("No such file") != std::string::npos || detail.empty()
                ? c.name + " not found"
                : c.name + " cannot be loaded (" + detail + ")";
    return l;
  }
  const struct {
    const char* symbol;
    bool found;
  } needed[] = {
      {"cuFileDriverOpen", resolve(lib, "cuFileDriverOpen", &c.driver_open)},
      {"cuFileDriverClose", resolve(lib, "cuFileDriverClose_v2", &c.driver_close) ||
                                resolve(lib, "cuFileDriverClose", &c.driver_close)},
      {"cuFileHandleRegister", resolve(lib, "cuFileHandleRegister", &c.handle_register)},
      {"cuFileHandleDeregister", resolve(lib, "cuFileHandleDeregister", &c.handle_deregister)},
      {"cuFileBufRegister", resolve(lib, "cuFileBufRegister", &c.buf_register)},
      {"cuFileBufDeregister", resolve(lib, "cuFileBufDeregister", &c.buf_deregister)},
      {"cuFileRead", resolve(lib, "cuFileRead", &c.read)},
      {"cuFileWrite", resolve(lib, "cuFileWrite", &c.write)},
  };
  for (const auto& n : needed) {
    if (!n.found) {
      l.why = c.name + " lacks " + n.symbol;
      return l;  // the library stays loaded: dlclose of a half-used library gains nothing
    }
  }
  cufile::GetVersionFn get_version = nullptr;
  if (resolve(lib, "cuFileGetVersion", &get_version) && get_version(&c.version).err != cufile::kSuccess) c.version = 0;
  cufile::StandinAttachFn attach = nullptr;
  if (resolve(lib, "swapio_cufile_standin_attach", &attach)) {
    attach(&emulated_host_bytes);  // the host emulation's memory, for a stand-in
    c.reaches_emulation = true;
  }
  l.ok = true;
  return l;
}

const Loaded& loaded() {
  static const Loaded l = load();
  return l;
}

struct DriverState {
  std::mutex mutex;
  bool tried = false;
  bool open = false;
  pid_t opener = 0;
  std::string why;
};

DriverState& driver_state() {
  static DriverState* s = new DriverState;  // never destroyed: used from the exit handler
  return *s;
}

std::mutex* driver_mutex() { return &driver_state().mutex; }

// Set up at load time (see fork_guard.hpp): a child forked while another thread opens the driver
// does not inherit the lock held.
[[maybe_unused]] const bool driver_guarded = (driver_state(), guard_across_fork<&driver_mutex>(), true);

void close_at_exit() {
  DriverState& s = driver_state();
  std::lock_guard lock(s.mutex);
  if (s.open && s.opener == ::getpid()) {
    (void)loaded().library.driver_close();  // nothing to do about a failure at exit
    s.open = false;
  }
}

}  // namespace

std::string cufile_library_name() {
  const char* name = std::getenv("SWAPIO_CUFILE_LIBRARY");
  return name != nullptr && *name != '\0' ? name : "libcufile.so.0";
}

const CuFileLibrary* cufile_library(std::string* why) {
  const Loaded& l = loaded();
  if (!l.ok && why != nullptr) *why = l.why;
  return l.ok ? &l.library : nullptr;
}

const CuFileLibrary* cufile_driver(std::string* why) {
  const CuFileLibrary* lib = cufile_library(why);
  if (lib == nullptr) return nullptr;
  DriverState& s = driver_state();
  std::lock_guard lock(s.mutex);
  if (s.tried && s.opener != ::getpid()) {
    if (why != nullptr) {
      *why = "this process was forked after cuFile's driver opened in its parent, and cuFile does not survive fork()";
    }
    return nullptr;
  }
  if (!s.tried) {
    s.tried = true;
    s.opener = ::getpid();
    const cufile::Error e = lib->driver_open();
    s.open = e.err == cufile::kSuccess || e.err == cufile::kDriverAlreadyOpen;
    if (s.open) std::atexit(close_at_exit);
    else s.why = "cuFileDriverOpen failed: " + cufile_status_text(e);
  }
  if (!s.open && why != nullptr) *why = s.why;
  return s.open ? lib : nullptr;
}

bool nvidia_fs_loaded() {
  const char* path = std::getenv("SWAPIO_NVIDIA_FS_PROC");
  return ::access(path != nullptr && *path != '\0' ? path : "/proc/driver/nvidia-fs", F_OK) == 0;
}

std::string cufile_error_text(int err) {
  return std::string(cufile::error_name(err)) + " (" + std::to_string(err) + "): " + cufile::error_meaning(err);
}

std::string cufile_status_text(cufile::Error status) {
  std::string text = cufile_error_text(status.err);
  if (status.cu_err != 0) text += " (CUDA driver error " + std::to_string(status.cu_err) + ")";
  return text;
}

}  // namespace swapio::detail
