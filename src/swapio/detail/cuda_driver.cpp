// CUDA's runtime behind the driver seam (driver.hpp). In a build without the CUDA Toolkit it
// reports that CUDA is not built in.
#include "swapio/detail/driver.hpp"
#include "swapio/error.hpp"

#ifdef SWAPIO_HAVE_CUDA
#include <cuda.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <vector>
#endif

namespace swapio::detail {

#ifndef SWAPIO_HAVE_CUDA

bool cuda_built() noexcept { return false; }

std::shared_ptr<Driver> cuda_driver() {
  throw ConfigError(std::string("CUDA: ") + kNoCudaBuild);
}

#else

namespace {

// Errors after which the context is unusable for the rest of the process.
bool sticky(cudaError_t s) {
  switch (s) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorECCUncorrectable:
    case cudaErrorAssert:
    case cudaErrorLaunchTimeout:
    case cudaErrorUnknown:
      return true;
    default:
      return false;
  }
}

std::string describe(cudaError_t s) { return std::string(cudaGetErrorName(s)) + ": " + cudaGetErrorString(s); }

// Why cudaGetDeviceCount failed, said so that the fix is plain.
std::string no_device_reason(cudaError_t s) {
  if (s == cudaErrorInsufficientDriver) {
    void* lib = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) return "no NVIDIA driver is installed (libcuda.so.1 cannot be loaded)";
    ::dlclose(lib);
    int driver = 0;
    cudaDriverGetVersion(&driver);
    return "the NVIDIA driver (CUDA " + std::to_string(driver / 1000) + "." + std::to_string(driver % 1000 / 10) +
           ") is older than this build's CUDA runtime needs (CUDA " + std::to_string(CUDART_VERSION / 1000) + "." +
           std::to_string(CUDART_VERSION % 1000 / 10) + "): update the driver";
  }
  if (s == cudaErrorNoDevice) return "the CUDA driver reports no device (CUDA_VISIBLE_DEVICES may hide them)";
  return describe(s);
}

class CudaDriver final : public Driver {
 public:
  CudaDriver() = default;

  std::string device_name(int ordinal) const override { return "cuda:" + std::to_string(ordinal); }

  int device_count(std::string* why_none) override {
    int count = 0;
    const cudaError_t s = cudaGetDeviceCount(&count);
    if (s != cudaSuccess) {
      if (why_none != nullptr) *why_none = no_device_reason(s);
      return 0;
    }
    if (count == 0 && why_none != nullptr) *why_none = "the CUDA driver reports no device";
    return count;
  }
  int current_device() override {
    int d = 0;
    check(cudaGetDevice(&d), "cudaGetDevice", -1);
    return d;
  }
  void set_current_device(int ordinal) override { check(cudaSetDevice(ordinal), "cudaSetDevice", ordinal); }

  void* allocate(std::size_t bytes) override {
    void* p = nullptr;
    check(cudaMalloc(&p, bytes == 0 ? 1 : bytes), "cudaMalloc", current(), bytes);
    return p;
  }
  void free(void* data) noexcept override { cudaFree(data); }
  void register_host(void* host, std::size_t bytes) override {
    check(cudaHostRegister(host, bytes, cudaHostRegisterPortable), "cudaHostRegister", current(), bytes);
  }
  void unregister_host(void* host) noexcept override { cudaHostUnregister(host); }

  Stream create_stream() override {
    cudaStream_t s = nullptr;
    check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate", current());
    return s;
  }
  void destroy_stream(Stream stream) noexcept override { cudaStreamDestroy(static_cast<cudaStream_t>(stream)); }
  void copy_async(void* dst, const void* src, std::size_t bytes, bool to_device, Stream stream) override {
    check(cudaMemcpyAsync(dst, src, bytes, to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost, as_stream(stream)),
          to_device ? "cudaMemcpyAsync to device" : "cudaMemcpyAsync to host", current(), bytes);
  }
  Event create_event(bool blocking_sync) override {
    cudaEvent_t e = nullptr;
    const unsigned flags = cudaEventDisableTiming | (blocking_sync ? cudaEventBlockingSync : 0u);
    check(cudaEventCreateWithFlags(&e, flags), "cudaEventCreate", current());
    return e;
  }
  void destroy_event(Event event) noexcept override { cudaEventDestroy(static_cast<cudaEvent_t>(event)); }
  void record(Event event, Stream stream) override {
    check(cudaEventRecord(static_cast<cudaEvent_t>(event), as_stream(stream)), "cudaEventRecord", current());
  }
  bool query(Event event) override {
    const cudaError_t s = cudaEventQuery(static_cast<cudaEvent_t>(event));
    if (s == cudaErrorNotReady) return false;
    check(s, "cudaEventQuery", current());
    return true;
  }
  void synchronize(Event event) override {
    check(cudaEventSynchronize(static_cast<cudaEvent_t>(event)), "cudaEventSynchronize", current());
  }
  void stream_wait(Stream stream, Event event) override {
    check(cudaStreamWaitEvent(as_stream(stream), static_cast<cudaEvent_t>(event), 0), "cudaStreamWaitEvent", current());
  }
  void synchronize_stream(Stream stream) noexcept override { cudaStreamSynchronize(as_stream(stream)); }

  PointerInfo pointer_info(const void* address) override {
    PointerInfo info;
    cudaPointerAttributes a{};
    const cudaError_t s = cudaPointerGetAttributes(&a, address);
    if (s == cudaErrorInvalidValue) {  // older runtimes: an address CUDA does not know
      cudaGetLastError();
      return info;
    }
    check(s, "cudaPointerGetAttributes", -1);
    switch (a.type) {
      case cudaMemoryTypeDevice: info.kind = PointerInfo::Kind::device; break;
      case cudaMemoryTypeManaged: info.kind = PointerInfo::Kind::managed; break;
      case cudaMemoryTypeHost: info.kind = PointerInfo::Kind::registered_host; return info;
      default: return info;
    }
    info.device = a.device;
    // The allocation's range, asked of the driver with the pointer's device current.
    const CurrentDevice on(*this, a.device);
    CUdeviceptr base = 0;
    std::size_t size = 0;
    const CUresult r = address_range()(&base, &size, reinterpret_cast<CUdeviceptr>(address));
    if (r != CUDA_SUCCESS) {
      throw_io_error(EIO, "cuMemGetAddressRange", device_name(a.device), reinterpret_cast<std::uintptr_t>(address), 0,
                     "CUresult " + std::to_string(static_cast<int>(r)));
    }
    info.base = static_cast<std::uintptr_t>(base);
    info.size = size;
    return info;
  }

  std::string lost(int ordinal) const override {
    if (!any_lost_.load(std::memory_order_acquire)) return {};
    std::lock_guard lock(mutex_);
    return ordinal >= 0 && static_cast<std::size_t>(ordinal) < lost_.size() ? lost_[ordinal] : std::string();
  }

 private:
  using AddressRange = CUresult (*)(CUdeviceptr*, std::size_t*, CUdeviceptr);

  static cudaStream_t as_stream(Stream s) { return s == nullptr ? cudaStreamLegacy : static_cast<cudaStream_t>(s); }

  int current() {
    int d = -1;
    return cudaGetDevice(&d) == cudaSuccess ? d : -1;
  }

  AddressRange address_range() {
    std::call_once(range_once_, [this] {
      void* fn = nullptr;
      cudaDriverEntryPointQueryResult found{};
      if (cudaGetDriverEntryPointByVersion("cuMemGetAddressRange", &fn, 12000, cudaEnableDefault, &found) ==
              cudaSuccess &&
          found == cudaDriverEntryPointSuccess) {
        range_ = reinterpret_cast<AddressRange>(fn);
      }
    });
    if (range_ == nullptr) {
      throw_io_error(EIO, "cudaGetDriverEntryPointByVersion", "CUDA", 0, 0, "the driver has no cuMemGetAddressRange");
    }
    return range_;
  }

  // Throws swapio::Error for a failed call; a sticky error marks the device lost first.
  void check(cudaError_t s, const char* op, int ordinal, std::uint64_t bytes = 0) {
    if (s == cudaSuccess) return;
    std::string why = describe(s);
    if (s == cudaErrorInsufficientDriver || s == cudaErrorNoDevice) why = no_device_reason(s);
    if (sticky(s) && ordinal >= 0) {
      std::lock_guard lock(mutex_);
      if (lost_.size() <= static_cast<std::size_t>(ordinal)) lost_.resize(ordinal + 1);
      if (lost_[ordinal].empty()) lost_[ordinal] = why + " (in " + op + ")";
      any_lost_.store(true, std::memory_order_release);
    }
    throw_io_error(EIO, op, ordinal >= 0 ? device_name(ordinal) : std::string("CUDA"), 0, bytes, why);
  }

  std::once_flag range_once_;
  AddressRange range_ = nullptr;
  mutable std::mutex mutex_;
  std::vector<std::string> lost_;
  std::atomic<bool> any_lost_{false};
};

}  // namespace

bool cuda_built() noexcept { return true; }

std::shared_ptr<Driver> cuda_driver() {
  static auto* const driver = new std::shared_ptr<Driver>(std::make_shared<CudaDriver>());
  return *driver;
}

#endif

}  // namespace swapio::detail
