// The GPU path on a real CUDA device: a round trip, stream order after the caller's stream (late
// work queued with cudaLaunchHostFunc, no kernel needed), the caller's current device, pointer
// checks against cudaMalloc'd and managed memory, wrap_device_pointer. Without a device each
// test skips with the driver's reason; with SWAPIO_REQUIRE_CUDA=1 (ci/gpu-check) a missing
// device fails instead.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"
#include "swapio/swapio.hpp"

namespace swapio::test {
namespace {

constexpr std::uint64_t kSeed = 29;

// The number of visible devices, at least `need`; otherwise skips (or fails when required).
#define NEED_GPUS(need)                                                                              \
  do {                                                                                               \
    std::string why_;                                                                                \
    const int count_ = cuda_device_count(&why_);                                                     \
    if (count_ == 0) {                                                                               \
      if (std::getenv("SWAPIO_REQUIRE_CUDA") != nullptr) FAIL() << "no CUDA device visible: " << why_; \
      GTEST_SKIP() << "no CUDA device visible: " << why_;                                           \
    }                                                                                                \
    if (count_ < (need)) {                                                                           \
      std::printf("only %d GPU(s): the %d-GPU case does not apply here\n", count_, (need));          \
      return;                                                                                        \
    }                                                                                                \
  } while (0)

void cuda_ok(cudaError_t s, const char* what) {
  if (s != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(s));
}

struct CudaMemory {
  void* p = nullptr;
  explicit CudaMemory(std::size_t n, bool managed = false) {
    cuda_ok(managed ? cudaMallocManaged(&p, n) : cudaMalloc(&p, n), "cudaMalloc");
  }
  ~CudaMemory() { cudaFree(p); }
  std::byte* data() const { return static_cast<std::byte*>(p); }
};

struct PinnedHost {
  void* p = nullptr;
  explicit PinnedHost(std::size_t n) { cuda_ok(cudaMallocHost(&p, n), "cudaMallocHost"); }
  ~PinnedHost() { cudaFreeHost(p); }
  std::byte* data() const { return static_cast<std::byte*>(p); }
};

void CUDART_CB sleep_150ms(void*) { std::this_thread::sleep_for(std::chrono::milliseconds(150)); }

TEST(CudaDevice, RoundTrip) {
  NEED_GPUS(1);
  TempDir dir;
  auto dev = open_device("cuda:0");
  EXPECT_EQ(dev.get(), open_device("cuda:0").get()) << "one device object per ordinal";
  Config c;
  c.intra_op_parallelism = 2;
  constexpr std::uint64_t kSize = 64 * 1024 * 1024 + 12345;
  DeviceBuffer src(dev, kSize), dst(dev, kSize);
  std::vector<std::byte> host(kSize);
  fill_pattern(host, 4096, kSeed);
  dev->copy_to_device(src.span(), host.data());
  const std::string path = dir.file("cuda.swp");
  Handle handle(c);
  handle.pwrite(src.span(), path, 4096, true);
  handle.pread(dst.span(), path, 4096, true);
  EXPECT_EQ(first_pattern_mismatch(download(*dev, dst.span()), 4096, kSeed), -1);
  const auto file = read_plain(path);
  EXPECT_EQ(first_pattern_mismatch(std::span(file).subspan(4096), 4096, kSeed), -1);
}

class CudaStreamOrder : public ::testing::TestWithParam<bool> {};

// Late work on the caller's stream: a host function that sleeps, then a copy that writes the
// tensor. A write must save what that copy wrote; a read must land after it.
TEST_P(CudaStreamOrder, TransfersWaitForTheCallersStream) {
  NEED_GPUS(1);
  const bool named = GetParam();
  TempDir dir;
  auto dev = open_device("cuda:0");
  cuda_ok(cudaSetDevice(0), "cudaSetDevice");
  constexpr std::size_t kSize = 8 * 1024 * 1024 + 4096;
  CudaMemory mem(kSize);
  PinnedHost pattern(kSize);
  fill_pattern(std::span(pattern.data(), kSize), 0, kSeed);
  cudaStream_t s = nullptr;
  cuda_ok(cudaStreamCreateWithFlags(&s, named ? cudaStreamNonBlocking : cudaStreamDefault), "cudaStreamCreate");
  cuda_ok(cudaMemset(mem.p, 0, kSize), "cudaMemset");
  DeviceSpan span{dev.get(), mem.data(), kSize, named ? s : nullptr};
  const std::string path = dir.file("order.swp");

  cuda_ok(cudaLaunchHostFunc(s, sleep_150ms, nullptr), "cudaLaunchHostFunc");
  cuda_ok(cudaMemcpyAsync(mem.p, pattern.p, kSize, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync");
  write_file(span, path);
  EXPECT_EQ(first_pattern_mismatch(read_plain(path), 0, kSeed), -1) << "saved before the stream's copy";

  std::vector<std::byte> other(kSize);
  fill_pattern(other, 5, kSeed);
  write_plain(path, other);
  cuda_ok(cudaLaunchHostFunc(s, sleep_150ms, nullptr), "cudaLaunchHostFunc");
  cuda_ok(cudaMemsetAsync(mem.p, 0, kSize, s), "cudaMemsetAsync");
  read_file(span, path);
  EXPECT_EQ(first_pattern_mismatch(download(*dev, span), 5, kSeed), -1) << "the read landed before the stream's memset";
  cudaStreamSynchronize(s);
  cudaStreamDestroy(s);
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaStreamOrder, ::testing::Bool(),
                         [](const auto& p) { return p.param ? std::string("NamedStream") : std::string("LegacyDefault"); });

TEST(CudaDevice, TheCallersCurrentDeviceIsKept) {
  NEED_GPUS(1);
  TempDir dir;
  const int last = cuda_device_count() - 1;
  cuda_ok(cudaSetDevice(last), "cudaSetDevice");
  auto dev = open_device("cuda:0");
  DeviceBuffer buf(dev, 1 << 20);
  std::vector<std::byte> host(1 << 20);
  dev->copy_to_device(buf.span(), host.data());
  write_file(buf.span(), dir.file("c.swp"), {}, 0, true);
  int now = -1;
  cuda_ok(cudaGetDevice(&now), "cudaGetDevice");
  EXPECT_EQ(now, last);
}

TEST(CudaDevice, SpansAreCheckedAgainstTheirAllocation) {
  NEED_GPUS(1);
  TempDir dir;
  auto dev = open_device("cuda:0");
  CudaMemory mem(1 << 20);
  const std::string path = dir.file("p.swp");
  write_plain(path, std::vector<std::byte>(2 << 20));
  EXPECT_THROW(read_file(DeviceSpan{dev.get(), mem.data(), (1 << 20) + 1}, path), ConfigError);
  std::vector<std::byte> host(4096);
  EXPECT_THROW(read_file(DeviceSpan{dev.get(), host.data(), host.size()}, path), ConfigError);
  const WrappedDeviceMemory w = wrap_device_pointer(mem.data() + 4096, 8192);
  EXPECT_EQ(w.device->ordinal(), 0);
  EXPECT_EQ(read_file(w.span, path).bytes, 8192u);
  EXPECT_THROW(wrap_device_pointer(mem.data() + 4096, 1 << 20), ConfigError);
}

TEST(CudaDevice, ManagedMemoryMoves) {
  NEED_GPUS(1);
  TempDir dir;
  constexpr std::size_t kSize = 3 << 20;
  CudaMemory mem(kSize, true);
  fill_pattern(std::span(mem.data(), kSize), 0, kSeed);
  const WrappedDeviceMemory w = wrap_device_pointer(mem.data(), kSize);
  const std::string path = dir.file("m.swp");
  write_file(w.span, path, {}, 0, true);
  EXPECT_EQ(first_pattern_mismatch(read_plain(path), 0, kSeed), -1);
}

TEST(CudaDevice, AnotherGpusMemoryIsRefused) {
  NEED_GPUS(2);
  TempDir dir;
  auto dev0 = open_device("cuda:0");
  auto dev1 = open_device("cuda:1");
  DeviceBuffer on1(dev1, 4096);
  const std::string path = dir.file("g.swp");
  write_plain(path, std::vector<std::byte>(4096));
  EXPECT_THROW(read_file(DeviceSpan{dev0.get(), on1.span().data, 4096}, path), ConfigError);
  EXPECT_EQ(wrap_device_pointer(on1.span().data, 4096).device.get(), dev1.get());
}

}  // namespace
}  // namespace swapio::test
