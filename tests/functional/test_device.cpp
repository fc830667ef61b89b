// The GPU path: the Device seam, the emulated device, the staging ring's bounds and ordering,
// and the CUDA device where one is visible (skipped with the driver's reason elsewhere).
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <cstring>
#include <thread>
#include <vector>

#include "support.hpp"
#include "swapio/swapio.hpp"

namespace swapio::test {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kSeed = 23;

// A small ring (4 chunks of 64 KiB, 16 KiB blocks) so that megabytes reuse every position.
Config small_ring() {
  Config c;
  c.block_size = 16 * 1024;
  c.queue_depth = 8;
  c.device_chunk_size = 64 * 1024;
  c.device_chunks = 4;
  return c;
}

class DeviceTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(DeviceTest, EmulatedCopiesMoveExactBytes) {
  auto dev = make_emulated_device({.min_delay_us = 0, .max_delay_us = 50, .seed = 3});
  DeviceBuffer buf(dev, 100'003);
  upload_pattern(*dev, buf.span(), 77, kSeed);
  const auto back = download(*dev, buf.span());
  EXPECT_EQ(first_pattern_mismatch(back, 77, kSeed), -1);
  EXPECT_EQ(dev->allocated_bytes(), 100'003u);
  EXPECT_GE(dev->copies(), 2u);
}

TEST_F(DeviceTest, EmulatedDeviceMemoryIsNotHostMemory) {
  // The host cannot do I/O into emulated device memory: a transfer that forgot to stage it
  // fails at once instead of passing by luck.
  auto dev = make_emulated_device();
  DeviceBuffer buf(dev, 1 << 20);
  const std::string path = dir_.file("t.swp");
  std::vector<std::byte> content(1 << 20);
  write_plain(path, content);
  Config c;
  c.direct = DirectMode::off;
  try {
    read_file(std::span<std::byte>(buf.span().data, buf.size()), path, c);
    FAIL() << "reading into device memory as if it were host memory must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), EFAULT) << e.what();
  }
}

TEST_F(DeviceTest, CopyOutsideAnAllocationIsAnError) {
  auto dev = make_emulated_device();
  DeviceBuffer buf(dev, 4096);
  std::vector<std::byte> host(8192);
  try {
    dev->copy_to_host(host.data(), DeviceSpan{dev.get(), buf.span().data, 8192});
    FAIL() << "a copy past the allocation must fail";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("runs past the end of its allocation"), std::string::npos) << e.what();
  }
  // Below the checks, the emulated driver refuses such a copy too.
  auto stream = dev->create_stream();
  try {
    stream->copy_to_host(host.data(), buf.span().data, 8192);
    FAIL() << "the driver must refuse a copy past the allocation";
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), EFAULT);
    EXPECT_NE(std::string(e.what()).find("not inside one allocation"), std::string::npos) << e.what();
  }
}

TEST_F(DeviceTest, SpanWithoutDeviceIsRejected) {
  std::vector<std::byte> host(10);
  const std::string path = dir_.file("t.swp");
  EXPECT_THROW(write_file(DeviceSpan{nullptr, host.data(), host.size()}, path), ConfigError);
  EXPECT_FALSE(std::filesystem::exists(path)) << "a rejected call must not create the file";
}

TEST_F(DeviceTest, OpenDeviceNamesBadSpecs) {
  EXPECT_THROW(open_device("tpu"), ConfigError);
  EXPECT_THROW(open_device("cuda:x"), ConfigError);
  EXPECT_THROW(open_device("cuda:-1"), ConfigError);
  EXPECT_EQ(open_device("emulated")->name(), "emulated");
}

// Far larger than the ring, at an odd offset and size, both APIs, both directions, with and
// without direct I/O and with random copy delays: the bytes are exact.
struct LargeCase {
  bool handle;
  unsigned threads;
  DirectMode direct;
  bool overlap;
};

class DeviceLarge : public DeviceTest, public ::testing::WithParamInterface<LargeCase> {};

TEST_P(DeviceLarge, MovesMegabytesThroughASmallRing) {
  const LargeCase p = GetParam();
  auto dev = make_emulated_device({.min_delay_us = 0, .max_delay_us = 300, .seed = 5});
  Config c = small_ring();
  c.direct = p.direct;
  c.overlap_events = p.overlap;
  c.intra_op_parallelism = p.threads;
  constexpr std::uint64_t kSize = 8 * 1024 * 1024 + 4099;
  constexpr std::uint64_t kOffset = 4096 + 513;
  const std::string path = dir_.file("big.swp");
  DeviceBuffer src(dev, kSize);
  upload_pattern(*dev, src.span(), kOffset, kSeed);

  Handle handle(c);
  const OpResult w = p.handle ? handle.pwrite(src.span(), path, kOffset, true) : write_file(src.span(), path, c, kOffset, true);
  EXPECT_TRUE(w.validated);
  EXPECT_EQ(w.device, "emulated");
  const auto file = read_plain(path);
  ASSERT_EQ(file.size(), kOffset + kSize);
  EXPECT_EQ(first_pattern_mismatch(std::span(file).subspan(kOffset), kOffset, kSeed), -1);

  DeviceBuffer dst(dev, kSize);
  const OpResult r = p.handle ? handle.pread(dst.span(), path, kOffset, true) : read_file(dst.span(), path, c, kOffset, true);
  EXPECT_EQ(r.bytes, kSize);
  EXPECT_EQ(first_pattern_mismatch(download(*dev, dst.span()), kOffset, kSeed), -1);
}

INSTANTIATE_TEST_SUITE_P(Device, DeviceLarge,
                         ::testing::Values(LargeCase{false, 1, DirectMode::automatic, true},
                                           LargeCase{false, 2, DirectMode::automatic, false},
                                           LargeCase{true, 1, DirectMode::automatic, true},
                                           LargeCase{true, 3, DirectMode::automatic, true},
                                           LargeCase{true, 2, DirectMode::off, true},
                                           LargeCase{true, 1, DirectMode::off, false}),
                         [](const ::testing::TestParamInfo<LargeCase>& param) {
                           const LargeCase& p = param.param;
                           return std::string(p.handle ? "Handle" : "Basic") + std::to_string(p.threads) +
                                  (p.direct == DirectMode::off ? "_Buffered" : "_Direct") +
                                  (p.overlap ? "_Overlap" : "_Sequential");
                         });

// While the device holds its copies back, the engine must not reuse a ring position: a read
// stalls after filling the ring (the bytes would differ if it overwrote a chunk not yet copied
// out), and a write sends nothing to the file before its chunk has been copied in.
TEST_F(DeviceTest, HeldCopiesStallTheRingInsteadOfReusingIt) {
  auto dev = make_emulated_device();
  const Config c = small_ring();
  constexpr std::uint64_t kSize = 4 * 1024 * 1024;  // 16x the ring
  const std::string path = dir_.file("held.swp");
  Handle handle(c);

  DeviceBuffer src(dev, kSize);
  upload_pattern(*dev, src.span(), 0, kSeed);
  std::vector<std::byte> zeros(kSize);
  write_plain(path, zeros);
  dev->hold();
  const auto w = handle.async_pwrite(src.span(), path);
  std::this_thread::sleep_for(200ms);
  const auto during = read_plain(path);
  EXPECT_EQ(std::count(during.begin(), during.end(), std::byte{0}), static_cast<std::ptrdiff_t>(kSize))
      << "bytes reached the file before the device copied them into staging";
  dev->release();
  handle.wait(w);
  EXPECT_EQ(first_pattern_mismatch(read_plain(path), 0, kSeed), -1);

  DeviceBuffer dst(dev, kSize);
  const std::uint64_t copies_before = dev->copies();
  dev->hold();
  const auto r = handle.async_pread(dst.span(), path);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(dev->copies(), copies_before) << "no copy may run while the device is held";
  dev->release();
  const OpResult result = handle.wait(r);
  EXPECT_EQ(result.bytes, kSize);
  EXPECT_EQ(first_pattern_mismatch(download(*dev, dst.span()), 0, kSeed), -1)
      << "a ring position was reused before its copy to the device had run";
}

// done(id) answers without waiting: false while the op's copies are held, true once it has
// ended; an id that was reported is unknown to it.
TEST_F(DeviceTest, DoneTellsWhetherAnOpHasEndedWithoutWaiting) {
  auto dev = make_emulated_device();
  constexpr std::uint64_t kSize = 1024 * 1024;
  const std::string path = dir_.file("done.swp");
  Handle handle(small_ring());
  DeviceBuffer src(dev, kSize);
  upload_pattern(*dev, src.span(), 0, kSeed);
  dev->hold();
  const auto id = handle.async_pwrite(src.span(), path);
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(handle.done(id)) << "an op whose copies are held cannot have ended";
  dev->release();
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!handle.done(id) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(handle.done(id));
  EXPECT_EQ(handle.wait(id).bytes, kSize);
  EXPECT_THROW((void)handle.done(id), std::invalid_argument);
  EXPECT_THROW((void)handle.done(id + 100), std::invalid_argument);
  EXPECT_EQ(first_pattern_mismatch(read_plain(path), 0, kSeed), -1);
}

// Pinned memory is the ring per worker thread, whatever the tensor's size; after the handle it
// is back in the device's cache, which trim_staging empties.
TEST_F(DeviceTest, PinnedStagingIsBoundedByTheRing) {
  auto dev = make_emulated_device();
  Config c = small_ring();
  c.intra_op_parallelism = 2;
  const std::size_t ring = c.device_chunks * c.device_chunk_size;
  constexpr std::uint64_t kSize = 16 * 1024 * 1024;
  const std::string path = dir_.file("bounded.swp");
  DeviceBuffer src(dev, kSize);
  upload_pattern(*dev, src.span(), 0, kSeed);
  const std::size_t setup = dev->registered_bytes();  // the setup copies' bounce buffer
  {
    Handle handle(c);
    handle.pwrite(src.span(), path);
    EXPECT_GT(dev->registered_bytes(), setup);
    EXPECT_LE(dev->registered_bytes() - setup, 2 * ((ring + HostBuffer::kAlignment - 1) / HostBuffer::kAlignment) *
                                           HostBuffer::kAlignment)
        << "pinned staging grew with the tensor";
  }
  EXPECT_EQ(dev->registered_bytes(), dev->cached_staging_bytes()) << "the handle kept staging out of the cache";
  write_file(src.span(), path, c);
  EXPECT_EQ(dev->registered_bytes(), dev->cached_staging_bytes()) << "the basic API kept staging out of the cache";
  dev->trim_staging();
  EXPECT_EQ(dev->registered_bytes(), 0u) << "trim_staging left host memory registered";
}

TEST_F(DeviceTest, ValidationComparesThroughACopyBack) {
  auto dev = make_emulated_device();
  const std::string path = dir_.file("v.swp");
  std::vector<std::byte> content(70'000);
  fill_pattern(content, 0, kSeed);
  write_plain(path, content);
  DeviceBuffer buf(dev, content.size());
  content[65'432] ^= std::byte{0x5A};
  dev->copy_to_device(buf.span(), content.data());
  try {
    validate_file_range(buf.span(), path, 0);
    FAIL() << "validation must find the changed byte";
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.file_offset(), 65'432u);
    EXPECT_EQ(e.buffer_offset(), 65'432u);
  }
}

TEST_F(DeviceTest, FailedOpLeavesTheHandleUsable) {
  // A read past the end of the file fails before any copy; a later op on the same handle works.
  auto dev = make_emulated_device({.min_delay_us = 0, .max_delay_us = 100, .seed = 9});
  const Config c = small_ring();
  const std::string path = dir_.file("short.swp");
  std::vector<std::byte> content(300'000);
  fill_pattern(content, 0, kSeed);
  write_plain(path, content);
  DeviceBuffer buf(dev, 400'000);
  Handle handle(c);
  EXPECT_THROW(handle.pread(buf.span(), path), Error);
  const OpResult r = handle.pread(buf.span().subspan(0, content.size()), path, 0, true);
  EXPECT_EQ(r.bytes, content.size());
}

// --- CUDA ---------------------------------------------------------------------------------

TEST(Cuda, NoDeviceIsAClearError) {
  if (!cuda_built()) {
    EXPECT_THROW(open_device("cuda"), ConfigError);
    return;
  }
  std::string why;
  if (cuda_device_count(&why) > 0) GTEST_SKIP() << "a CUDA device is visible";
  try {
    open_device("cuda");
    FAIL() << "open_device(cuda) must fail without a device";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no device is visible"), std::string::npos) << e.what();
    // Without a driver the runtime says cudaErrorInsufficientDriver ("driver version is
    // insufficient"), which would send a user to update a driver that is not there.
    void* lib = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      EXPECT_NE(std::string(e.what()).find("no NVIDIA driver is installed"), std::string::npos) << e.what();
    } else {
      ::dlclose(lib);
      EXPECT_EQ(std::string(e.what()).find("driver version is insufficient"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace swapio::test
