// The rules of the GPU path for memory a training job owns (device.hpp), each checked on the
// host emulation, which keeps CUDA's semantics where a real device would show the mistake:
// stream order, the caller's current device, pointer checks, the registered-ring cache, blocking
// waits, setup and validation copies, and a device lost or used after fork().
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "support.hpp"
#include "swapio/swapio.hpp"

namespace swapio::test {
namespace {

constexpr std::uint64_t kSeed = 41;
constexpr std::uint32_t kLate = 150'000;  // a "kernel" that runs 150 ms after it was queued

std::vector<std::byte> pattern(std::size_t n, std::uint64_t pos = 0) {
  std::vector<std::byte> v(n);
  fill_pattern(v, pos, kSeed);
  return v;
}

// Expects fn to throw ConfigError whose message has `needle`.
template <typename F>
void expect_config_error(F&& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected ConfigError with '" << needle << "'";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

class GpuRules : public ::testing::Test {
 protected:
  void SetUp() override { EmulatedDevice::make_current(0); }
  void TearDown() override { EmulatedDevice::make_current(0); }
  TempDir dir_;
};

// --- 1. stream order -------------------------------------------------------------------------

enum class Api { basic, handle, handle_async };

class StreamOrder : public GpuRules, public ::testing::WithParamInterface<std::tuple<Api, bool>> {};

// A write saves the bytes a kernel still queued on the caller's stream writes, and a read's bytes
// land after that kernel (it cannot overwrite them): the op is ordered after the stream. With no
// stream named, after the legacy default stream, which waits for blocking streams.
TEST_P(StreamOrder, TransfersAreOrderedAfterTheCallersStream) {
  const auto [api, named] = GetParam();
  auto dev = make_emulated_device();
  constexpr std::size_t kSize = 3 * 1024 * 1024 + 4321;
  DeviceBuffer buf(dev, kSize);
  const std::vector<std::byte> zeros(kSize);
  dev->copy_to_device(buf.span(), zeros.data());
  void* stream = dev->create_caller_stream(/*blocking=*/!named);
  DeviceSpan span = buf.span();
  if (named) span.stream = stream;
  Config c;
  c.intra_op_parallelism = 2;
  Handle handle(c);
  const auto run = [&](Direction d, const std::string& path) {
    if (api == Api::basic) return transfer(d, span, path, c);
    if (api == Api::handle) return handle.transfer(d, span, path);
    return handle.wait(handle.async_transfer(d, span, path));
  };

  const std::string saved = dir_.file("saved.swp");
  dev->launch_write(stream, buf.span(), pattern(kSize, 0), kLate);
  run(Direction::write, saved);
  EXPECT_EQ(first_pattern_mismatch(read_plain(saved), 0, kSeed), -1)
      << "the write saved the tensor before the caller's kernel had written it";

  const std::string source = dir_.file("source.swp");
  write_plain(source, pattern(kSize, 7));
  dev->launch_write(stream, buf.span(), zeros, kLate);
  run(Direction::read, source);
  EXPECT_EQ(first_pattern_mismatch(download(*dev, buf.span()), 7, kSeed), -1)
      << "the read's bytes landed before the caller's kernel ran, which overwrote them";
}

INSTANTIATE_TEST_SUITE_P(GpuRules, StreamOrder,
                         ::testing::Combine(::testing::Values(Api::basic, Api::handle, Api::handle_async),
                                            ::testing::Bool()),
                         [](const auto& p) {
                           const Api api = std::get<0>(p.param);
                           return std::string(api == Api::basic ? "Basic" : api == Api::handle ? "Handle" : "Async") +
                                  (std::get<1>(p.param) ? "_NamedStream" : "_LegacyDefault");
                         });

TEST_F(GpuRules, SetupCopiesAreOrderedAfterTheSpansStream) {
  auto dev = make_emulated_device();
  DeviceBuffer buf(dev, 1 << 20);
  void* stream = dev->create_caller_stream(false);
  dev->launch_write(stream, buf.span(), pattern(1 << 20), kLate);
  DeviceSpan span = buf.span();
  span.stream = stream;
  EXPECT_EQ(first_pattern_mismatch(download(*dev, span), 0, kSeed), -1);
}

// --- 2. the caller's current device -----------------------------------------------------------

TEST_F(GpuRules, TheCallersCurrentDeviceIsRestored) {
  auto devs = make_emulated_devices(2);
  auto& dev0 = *devs[0];
  EmulatedDevice::make_current(1);
  DeviceBuffer buf(devs[0], 1 << 20);
  EXPECT_EQ(EmulatedDevice::current(), 1) << "allocate";
  EXPECT_EQ(dev0.pointer_info(buf.span().data).device, 0) << "allocated on the current device, not its own";
  const auto content = pattern(1 << 20);
  dev0.copy_to_device(buf.span(), content.data());
  EXPECT_EQ(EmulatedDevice::current(), 1) << "copy_to_device";
  const std::string path = dir_.file("cur.swp");
  write_file(buf.span(), path);  // one slice: runs on this thread
  EXPECT_EQ(EmulatedDevice::current(), 1) << "basic write";
  read_file(buf.span(), path, {}, 0, true);
  EXPECT_EQ(EmulatedDevice::current(), 1) << "basic read with validation";
  {
    Handle h;
    h.pwrite(buf.span(), path);
    EXPECT_EQ(EmulatedDevice::current(), 1) << "Handle write";
  }
  EXPECT_EQ(first_pattern_mismatch(download(dev0, buf.span()), 0, kSeed), -1);
  EXPECT_EQ(EmulatedDevice::current(), 1) << "copy_to_host";
  DeviceBuffer other(devs[1], 4096);  // the caller's own allocation still lands on its device
  EXPECT_EQ(dev0.pointer_info(other.span().data).device, 1);
}

// --- 3. pointer checks --------------------------------------------------------------------------

// A stand-in for a caching allocator: one device allocation carved into blocks, as PyTorch's.
struct CarvedSegment {
  DeviceBuffer segment;
  std::vector<DeviceSpan> blocks;
  CarvedSegment(std::shared_ptr<Device> dev, std::vector<std::size_t> sizes) {
    std::size_t total = 0;
    for (std::size_t s : sizes) total += s;
    segment = DeviceBuffer(std::move(dev), total);
    std::size_t at = 0;
    for (std::size_t s : sizes) {
      blocks.push_back(segment.span().subspan(at, s));
      at += s;
    }
  }
};

TEST_F(GpuRules, SpansOutsideTheirDevicesMemoryAreRefusedBeforeAnyIo) {
  auto devs = make_emulated_devices(2);
  CarvedSegment seg(devs[0], {4096, 8192, 12288});
  DeviceBuffer on1(devs[1], 4096);
  const std::string path = dir_.file("p.swp");
  write_plain(path, pattern(64 * 1024));
  DeviceSpan past = seg.blocks[2];
  past.size += 1;  // one byte past the segment's end
  expect_config_error([&] { read_file(past, path); }, "runs past the end of its allocation");
  DeviceSpan wrong{devs[0].get(), on1.span().data, 4096};
  expect_config_error([&] { read_file(wrong, path); }, "is memory of emulated:1");
  std::vector<std::byte> host(4096);
  expect_config_error([&] { write_file(DeviceSpan{devs[0].get(), host.data(), host.size()}, path); }, "host memory");
  expect_config_error([&] { (void)download(*devs[0], past); }, "runs past the end");
  // A block inside the segment is fine, wherever it starts.
  EXPECT_EQ(read_file(seg.blocks[1], path).bytes, 8192u);
  EXPECT_EQ(first_pattern_mismatch(download(*devs[0], seg.blocks[1]), 0, kSeed), -1);
}

TEST_F(GpuRules, WrapDevicePointerFindsTheDeviceItself) {
  auto devs = make_emulated_devices(2);
  CarvedSegment seg(devs[1], {4096, 65536});
  const std::string path = dir_.file("w.swp");
  write_plain(path, pattern(65536, 3));
  const WrappedDeviceMemory w = wrap_device_pointer(seg.blocks[1].data, 65536);
  EXPECT_EQ(w.device.get(), devs[1].get());
  EXPECT_EQ(w.span.device, devs[1].get());
  read_file(w.span, path);
  EXPECT_EQ(first_pattern_mismatch(download(*devs[1], seg.blocks[1]), 3, kSeed), -1);
  expect_config_error([&] { wrap_device_pointer(seg.blocks[1].data, 65537); }, "runs past the end");
  std::vector<std::byte> host(16);
  expect_config_error([&] { wrap_device_pointer(host.data(), host.size()); }, "not device memory");
}

// --- 4. the registered-ring cache ------------------------------------------------------------

TEST_F(GpuRules, BasicCallsReuseOneRegisteredRing) {
  auto dev = make_emulated_device();
  DeviceBuffer small(dev, 4096), large(dev, 8 << 20);
  const auto content = pattern(8 << 20);
  dev->copy_to_device(large.span(), content.data());
  const std::string path = dir_.file("r.swp");
  write_file(small.span(), path);
  read_file(small.span(), path, {}, 0, true);  // the ring, and the validation's bounce beside it
  const std::uint64_t after_first = dev->counters().registrations;
  for (int i = 0; i < 20; ++i) {
    write_file(small.span(), path);
    read_file(small.span(), path, {}, 0, true);
  }
  EXPECT_EQ(dev->counters().registrations, after_first) << "a basic call registered a ring of its own";
  EXPECT_LE(dev->registered_bytes(), std::size_t{16} << 20) << "a 4 KiB op needs no 64 MiB ring";
  Config c;
  c.intra_op_parallelism = 2;
  // Two threads per op: at most a ring per thread is ever registered (when both run at once),
  // not one per op.
  for (int i = 0; i < 6; ++i) write_file(large.span(), path, c);
  EXPECT_LE(dev->counters().registrations, after_first + 2) << "the two-thread ops registered rings per op";
  EXPECT_GT(dev->cached_staging_bytes(), 0u);
  dev->trim_staging();
  EXPECT_EQ(dev->cached_staging_bytes(), 0u);
}

TEST_F(GpuRules, AHandleSwitchingDevicesSwitchesOnlyItsStream) {
  auto devs = make_emulated_devices(2);
  DeviceBuffer a(devs[0], 1 << 20), b(devs[1], 1 << 20);
  const std::string path = dir_.file("s.swp");
  Handle h;
  h.pwrite(a.span(), path);
  h.pwrite(b.span(), path);
  const std::uint64_t warm = devs[0]->counters().registrations;
  for (int i = 0; i < 10; ++i) {
    h.pwrite(a.span(), path);
    h.pread(b.span(), path);
  }
  EXPECT_EQ(devs[0]->counters().registrations, warm) << "the ring was registered again on a device change";
}

// --- 5. waits block ---------------------------------------------------------------------------

TEST_F(GpuRules, WaitsForCopiesBlockInsteadOfSpinning) {
  auto dev = make_emulated_device({.min_delay_us = 200, .max_delay_us = 2000, .seed = 5});
  DeviceBuffer buf(dev, 4 << 20);
  const std::string path = dir_.file("b.swp");
  write_plain(path, pattern(4 << 20));
  Config c;
  c.device_chunk_size = 256 * 1024;
  c.device_chunks = 2;
  read_file(buf.span(), path, c, 0, true);
  write_file(buf.span(), path, c);
  const auto n = dev->counters();
  EXPECT_GT(n.blocking_waits, 0u);
  EXPECT_EQ(n.spinning_waits, 0u) << "a wait spun a core";
}

// --- 6. setup and validation copies ----------------------------------------------------------

TEST_F(GpuRules, ValidationCopiesUseOneStreamAndRegisteredMemory) {
  auto dev = make_emulated_device();
  constexpr std::size_t kSize = 40 << 20;
  DeviceBuffer buf(dev, kSize);
  const auto content = pattern(kSize);
  dev->copy_to_device(buf.span(), content.data());
  const std::string path = dir_.file("v.swp");
  write_file(buf.span(), path);
  const auto before = dev->counters();
  validate_file_range(buf.span(), path, 0);
  (void)download(*dev, buf.span());
  dev->copy_to_device(buf.span(), content.data());
  const auto after = dev->counters();
  EXPECT_EQ(after.streams_created, before.streams_created) << "a setup or validation copy made a stream";
  EXPECT_EQ(after.pageable_copies, before.pageable_copies) << "a copy went through pageable memory";
}

TEST_F(GpuRules, TransfersCopyOnlyThroughRegisteredMemory) {
  auto dev = make_emulated_device();
  DeviceBuffer buf(dev, 5 << 20);
  const std::string path = dir_.file("t.swp");
  write_plain(path, pattern(5 << 20));
  const auto before = dev->counters().pageable_copies;
  read_file(buf.span().subspan(123, (5 << 20) - 1000), path, {}, 77, true);
  write_file(buf.span(), path);
  EXPECT_EQ(dev->counters().pageable_copies, before);
}

// --- 7. registration, lost devices, fork -------------------------------------------------------

TEST_F(GpuRules, RegisterHostSelectsItsDevice) {
  auto devs = make_emulated_devices(2);
  devs[1]->lose("cudaErrorIllegalAddress: an illegal memory access was encountered");
  EmulatedDevice::make_current(1);  // a lost device is current on this thread
  HostBuffer host(1 << 20);
  EXPECT_NO_THROW(devs[0]->register_host(host.data(), host.size())) << "registered with the current device, not its own";
  devs[0]->unregister_host(host.data());
  EXPECT_EQ(EmulatedDevice::current(), 1);
}

TEST_F(GpuRules, ALostDeviceSaysSo) {
  auto dev = make_emulated_device();
  DeviceBuffer buf(dev, 1 << 20);
  const std::string path = dir_.file("l.swp");
  write_file(buf.span(), path);
  dev->lose("cudaErrorIllegalAddress: an illegal memory access was encountered");
  for (int i = 0; i < 2; ++i) {
    try {
      write_file(buf.span(), path);
      FAIL() << "an op on a lost device must fail";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("the device is lost"), std::string::npos) << what;
      EXPECT_NE(what.find("cudaErrorIllegalAddress"), std::string::npos) << what;
      EXPECT_NE(what.find("restart"), std::string::npos) << what;
    }
  }
}

TEST_F(GpuRules, AChildForkedAfterTheDeviceWasUsedIsToldWhy) {
  auto dev = make_emulated_device();
  DeviceBuffer buf(dev, 4096);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int code = 3;
    try {
      DeviceBuffer other(dev, 4096);
      code = 1;
    } catch (const ConfigError& e) {
      code = std::string(e.what()).find("fork") != std::string::npos ? 0 : 2;
    } catch (...) {
    }
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: the child used the device; 2: the error did not say fork";
  DeviceBuffer still(dev, 4096);  // the parent is unaffected
}

}  // namespace
}  // namespace swapio::test
