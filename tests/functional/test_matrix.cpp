// The matrix the seed's harness sweeps: api {basic, handle with 1 or 3 threads} x single_submit
// x overlap_events x memory {aligned, pinned, caller's own (misaligned), device} x validate x
// direction x size x file offset. Every case checks the bytes against a pattern keyed by file
// position, whatever the validate flag says, and that memory around the buffer is untouched.
// `device` is the host emulation of a GPU with copies delayed at random, through a staging ring
// smaller than the larger sizes, so every GPU-path schedule runs here without a GPU.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <ostream>
#include <tuple>
#include <variant>
#include <vector>

#include "support.hpp"
#include "swapio/swapio.hpp"

namespace swapio::test {
namespace {

constexpr std::uint64_t kBlock = 16 * 1024;  // small blocks keep files small
constexpr unsigned kDepth = 4;
constexpr std::uint64_t kSeed = 7;
constexpr std::size_t kGuard = 4096;
constexpr std::byte kGuardByte{0xCD};

enum class Api { basic, handle1, handle3 };
enum class Mem { aligned, pinned, user, device };

void PrintTo(Api a, std::ostream* os) { *os << (a == Api::basic ? "basic" : a == Api::handle1 ? "handle1" : "handle3"); }
const char* mem_name(Mem m) {
  switch (m) {
    case Mem::aligned: return "Aligned";
    case Mem::pinned: return "Pinned";
    case Mem::user: return "UserMem";
    case Mem::device: return "Device";
  }
  return "?";
}
void PrintTo(Mem m, std::ostream* os) { *os << mem_name(m); }

// Ring of 2 chunks of 2 blocks: smaller than the larger sizes, so positions are reused.
constexpr std::uint64_t kDeviceChunk = 2 * kBlock;
constexpr unsigned kDeviceChunks = 2;

EmulatedDevice& device() {
  static const std::shared_ptr<EmulatedDevice> d =
      make_emulated_device(EmulatedDeviceOptions{.min_delay_us = 0, .max_delay_us = 200, .seed = 11});
  return *d;
}

// Memory for one case with guard bytes on both sides. `user` is a plain vector offset by 3
// bytes: memory no direct I/O can use as is, so the engine must stage it. `device` is emulated
// device memory mirrored by a host vector: upload() before an op, download() after it.
class CaseMemory {
 public:
  CaseMemory(Mem kind, std::size_t size) : size_(size) {
    const std::size_t total = size + 2 * kGuard + 3;
    if (kind == Mem::device) {
      device_ = DeviceBuffer(device().shared_from_this(), total);
      user_.resize(total);
      base_ = user_.data();
      start_ = base_ + kGuard + 3;
    } else if (kind == Mem::user) {
      user_.resize(total);
      base_ = user_.data();
      start_ = base_ + kGuard + 3;
    } else {
      host_ = HostBuffer(total, kind == Mem::pinned ? MemoryKind::pinned : MemoryKind::aligned);
      base_ = host_.data();
      start_ = base_ + kGuard;
    }
    std::memset(base_, static_cast<int>(kGuardByte), total);
    total_ = total;
  }
  std::span<std::byte> span() { return {start_, size_}; }
  bool on_device() const { return device_.size() > 0; }
  DeviceSpan device_span() const { return device_.span().subspan(static_cast<std::size_t>(start_ - base_), size_); }
  void upload() {
    if (on_device()) device().copy_to_device(device_.span(), base_);
  }
  void download() {
    if (on_device()) device().copy_to_host(base_, device_.span());
  }
  // The first guard byte that changed, or -1.
  std::int64_t damaged_guard() const {
    for (std::byte* p = base_; p < start_; ++p) if (*p != kGuardByte) return p - start_;
    for (std::byte* p = start_ + size_; p < base_ + total_; ++p) if (*p != kGuardByte) return p - start_;
    return -1;
  }

 private:
  std::size_t size_, total_ = 0;
  HostBuffer host_;
  std::vector<std::byte> user_;
  DeviceBuffer device_;
  std::byte* base_ = nullptr;
  std::byte* start_ = nullptr;
};

using Params = std::tuple<Api, bool, bool, Mem, bool, bool, std::uint64_t, std::uint64_t>;

class Matrix : public ::testing::TestWithParam<Params> {
 protected:
  static void SetUpTestSuite() {
    TempDir probe;
    direct_supported_ = supports_direct(probe.path());
  }
  static inline bool direct_supported_ = false;
  TempDir dir_;
};

TEST_P(Matrix, MovesExactBytes) {
  const auto [api, single_submit, overlap, mem_kind, validate, write, size, offset] = GetParam();
  Config config;
  config.block_size = kBlock;
  config.queue_depth = kDepth;
  config.single_submit = single_submit;
  config.overlap_events = overlap;
  config.intra_op_parallelism = api == Api::handle3 ? 3 : 1;
  config.device_chunk_size = kDeviceChunk;
  config.device_chunks = kDeviceChunks;
  const std::string path = dir_.file("tensor.swp");
  CaseMemory mem(mem_kind, size);

  std::unique_ptr<Handle> handle;
  if (api != Api::basic) handle = std::make_unique<Handle>(config);
  OpResult r;
  if (write) {
    fill_pattern(mem.span(), offset, kSeed);
    mem.upload();
    if (mem.on_device()) {
      r = handle ? handle->pwrite(mem.device_span(), path, offset, validate)
                 : write_file(mem.device_span(), path, config, offset, validate);
    } else {
      r = handle ? handle->pwrite(mem.span(), path, offset, validate) : write_file(mem.span(), path, config, offset, validate);
    }
    mem.download();
    const std::vector<std::byte> file = read_plain(path);
    ASSERT_EQ(file.size(), offset + size) << "a new file's size must be exactly offset + size";
    for (std::uint64_t i = 0; i < offset; ++i) ASSERT_EQ(file[i], std::byte{0}) << "byte " << i << " before the offset";
    const auto bad = first_pattern_mismatch(std::span(file).subspan(offset), offset, kSeed);
    EXPECT_EQ(bad, -1) << "file byte " << offset + static_cast<std::uint64_t>(bad) << " differs from what was written";
  } else {
    std::vector<std::byte> content(offset + size + 777);
    fill_pattern(content, 0, kSeed);
    write_plain(path, content);
    std::memset(mem.span().data(), 0xAB, size);
    mem.upload();
    if (mem.on_device()) {
      r = handle ? handle->pread(mem.device_span(), path, offset, validate)
                 : read_file(mem.device_span(), path, config, offset, validate);
    } else {
      r = handle ? handle->pread(mem.span(), path, offset, validate) : read_file(mem.span(), path, config, offset, validate);
    }
    mem.download();
    const auto bad = first_pattern_mismatch(mem.span(), offset, kSeed);
    EXPECT_EQ(bad, -1) << "buffer byte " << bad << " (file offset " << offset + static_cast<std::uint64_t>(bad)
                       << ") differs from the file";
  }
  EXPECT_EQ(mem.damaged_guard(), -1) << "memory outside the buffer was written";
  EXPECT_EQ(r.bytes, size);
  EXPECT_EQ(r.write, write);
  EXPECT_EQ(r.validated, validate);
  EXPECT_GE(r.requests, 1u);
  EXPECT_EQ(r.latencies_ns.size(), r.requests);
  // O_DIRECT runs wherever the filesystem supports it and the range holds an aligned block (the
  // edges of at least a page each side go through the page cache).
  constexpr std::uint64_t kPage = 4096;
  const bool has_body = (offset + size) / kPage * kPage > (offset + kPage - 1) / kPage * kPage;
  EXPECT_EQ(r.direct, direct_supported_ && has_body) << "direct I/O must run wherever the filesystem supports it: " << r.direct_note;
  EXPECT_LE(r.threads, config.intra_op_parallelism);
  EXPECT_EQ(r.device, mem.on_device() ? "emulated" : "");
}

std::string name(const ::testing::TestParamInfo<Params>& info) {
  const auto [api, single_submit, overlap, mem, validate, write, size, offset] = info.param;
  std::string n = api == Api::basic ? "Basic" : api == Api::handle1 ? "Handle1" : "Handle3";
  n += single_submit ? "_SingleSubmit" : "_BatchSubmit";
  n += overlap ? "_Overlap" : "_Sequential";
  n += std::string("_") + mem_name(mem);
  n += validate ? "_Validate" : "_NoValidate";
  n += write ? "_Write" : "_Read";
  n += "_Size" + std::to_string(size) + "_Off" + std::to_string(offset);
  return n;
}

// One binary per api x direction (SWAPIO_MATRIX_API, SWAPIO_MATRIX_WRITE) so that each test
// process registers 864 cases, not 5184: ctest runs every case in a process of its own.
#ifndef SWAPIO_MATRIX_API
#error "build with -DSWAPIO_MATRIX_API=0|1|2 -DSWAPIO_MATRIX_WRITE=0|1"
#endif
constexpr Api kApi = SWAPIO_MATRIX_API == 0 ? Api::basic : SWAPIO_MATRIX_API == 1 ? Api::handle1 : Api::handle3;
constexpr bool kWrite = SWAPIO_MATRIX_WRITE != 0;

INSTANTIATE_TEST_SUITE_P(
    Swap, Matrix,
    ::testing::Combine(::testing::Values(kApi), ::testing::Bool(), ::testing::Bool(),
                       ::testing::Values(Mem::aligned, Mem::pinned, Mem::user, Mem::device), ::testing::Bool(), ::testing::Values(kWrite),
                       ::testing::Values(std::uint64_t{1}, std::uint64_t{511}, std::uint64_t{4096}, std::uint64_t{4097},
                                         kBlock - 1, kBlock, kBlock + 1, 3 * kBlock + 123, 2 * kDepth * kBlock + 5),
                       ::testing::Values(std::uint64_t{0}, std::uint64_t{4096}, std::uint64_t{1234})),
    name);

}  // namespace
}  // namespace swapio::test
