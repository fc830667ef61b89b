#include "swapio/detail/cuda_device.hpp"

#include "swapio/error.hpp"

#ifdef SWAPIO_HAVE_CUDA
#include <cuda_runtime_api.h>

#include <cerrno>
#include <deque>
#include <utility>
#include <vector>
#endif

namespace swapio::detail {

#ifndef SWAPIO_HAVE_CUDA

bool cuda_built() noexcept { return false; }

int cuda_device_count(std::string* why_none) {
  if (why_none != nullptr) *why_none = "this build has no CUDA support (no CUDA Toolkit was found when it was built)";
  return 0;
}

std::shared_ptr<Device> open_cuda_device(int) {
  throw ConfigError("CUDA: this build has no CUDA support (no CUDA Toolkit was found when it was built)");
}

#else

namespace {

// Throws swapio::Error for a failed CUDA call, with the driver's message.
void check(cudaError_t status, const char* op, const std::string& device, std::uint64_t bytes = 0) {
  if (status == cudaSuccess) return;
  throw_io_error(EIO, op, device, 0, bytes,
                 std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status));
}

// One stream per worker thread; tickets are events recorded on it, recycled once passed.
class CudaStream final : public DeviceStream {
 public:
  CudaStream(int index, std::string name) : index_(index), name_(std::move(name)) {
    check(cudaSetDevice(index_), "cudaSetDevice", name_);
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate", name_);
  }
  ~CudaStream() override {
    drain();
    for (auto& [ticket, event] : pending_) cudaEventDestroy(event);
    for (cudaEvent_t event : spare_) cudaEventDestroy(event);
    cudaStreamDestroy(stream_);
  }

  void copy_to_device(std::byte* device, const std::byte* host, std::size_t bytes) override {
    check(cudaSetDevice(index_), "cudaSetDevice", name_);
    check(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync to device", name_, bytes);
  }
  void copy_to_host(std::byte* host, const std::byte* device, std::size_t bytes) override {
    check(cudaSetDevice(index_), "cudaSetDevice", name_);
    check(cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync to host", name_, bytes);
  }
  std::uint64_t record() override {
    check(cudaSetDevice(index_), "cudaSetDevice", name_);
    cudaEvent_t event = nullptr;
    if (spare_.empty()) {
      check(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "cudaEventCreate", name_);
    } else {
      event = spare_.back();
      spare_.pop_back();
    }
    const cudaError_t status = cudaEventRecord(event, stream_);
    if (status != cudaSuccess) {
      spare_.push_back(event);
      check(status, "cudaEventRecord", name_);
    }
    pending_.emplace_back(++recorded_, event);
    return recorded_;
  }
  bool done(std::uint64_t ticket) override {
    while (!pending_.empty() && pending_.front().first <= ticket) {
      const cudaError_t status = cudaEventQuery(pending_.front().second);
      if (status == cudaErrorNotReady) return false;
      pop(status, "cudaEventQuery");
    }
    return true;
  }
  void wait(std::uint64_t ticket) override {
    while (!pending_.empty() && pending_.front().first <= ticket) {
      pop(cudaEventSynchronize(pending_.front().second), "cudaEventSynchronize");
    }
  }
  void drain() noexcept override { cudaStreamSynchronize(stream_); }

 private:
  void pop(cudaError_t status, const char* op) {
    spare_.push_back(pending_.front().second);
    pending_.pop_front();
    check(status, op, name_);
  }

  int index_;
  std::string name_;
  cudaStream_t stream_ = nullptr;
  std::uint64_t recorded_ = 0;
  std::deque<std::pair<std::uint64_t, cudaEvent_t>> pending_;
  std::vector<cudaEvent_t> spare_;
};

class CudaDevice final : public Device {
 public:
  explicit CudaDevice(int index) : index_(index), name_("cuda:" + std::to_string(index)) {}

  std::string name() const override { return name_; }

  std::byte* allocate(std::size_t bytes) override {
    check(cudaSetDevice(index_), "cudaSetDevice", name_);
    void* p = nullptr;
    check(cudaMalloc(&p, bytes == 0 ? 1 : bytes), "cudaMalloc", name_, bytes);
    return static_cast<std::byte*>(p);
  }
  void deallocate(std::byte* data) noexcept override {
    cudaSetDevice(index_);
    cudaFree(data);
  }
  void register_host(std::byte* host, std::size_t bytes) override {
    check(cudaHostRegister(host, bytes, cudaHostRegisterPortable), "cudaHostRegister", name_, bytes);
  }
  void unregister_host(std::byte* host) noexcept override { cudaHostUnregister(host); }
  std::unique_ptr<DeviceStream> create_stream() override { return std::make_unique<CudaStream>(index_, name_); }

 private:
  int index_;
  std::string name_;
};

}  // namespace

bool cuda_built() noexcept { return true; }

int cuda_device_count(std::string* why_none) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    if (why_none != nullptr) *why_none = std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
    return 0;
  }
  if (count == 0 && why_none != nullptr) *why_none = "the CUDA driver reports no device";
  return count;
}

std::shared_ptr<Device> open_cuda_device(int index) {
  std::string why;
  const int count = cuda_device_count(&why);
  if (count == 0) throw ConfigError("CUDA: no device is visible (" + why + ")");
  if (index >= count) {
    throw ConfigError("CUDA: device " + std::to_string(index) + " does not exist (" + std::to_string(count) +
                      " visible: 0.." + std::to_string(count - 1) + ")");
  }
  return std::make_shared<CudaDevice>(index);
}

#endif

}  // namespace swapio::detail
