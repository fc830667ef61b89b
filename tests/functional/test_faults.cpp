// Faults injected under every API (basic, a handle with 1 and 3 threads, async), both
// schedules and every memory (aligned host, the caller's own, emulated device): transient
// faults (EINTR, EAGAIN, short transfers, slow completions) are absorbed and the bytes are
// exact; hard ones (EIO, ENOSPC, EINVAL, ECANCELED) surface as one error naming path, offset,
// length and errno, with no request left in flight, no descriptor or pinned memory leaked, and
// the handle usable for the next op.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <tuple>
#include <vector>

#include "support.hpp"
#include "swapio/fault.hpp"
#include "swapio/swapio.hpp"

namespace swapio::test {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kSize = 2 * kMiB + 12'345;  // a buffered tail too
constexpr std::uint64_t kSeed = 41;

enum class Api { basic, handle1, handle3, async3 };
enum class Mem { aligned, user, device };
enum class Fault { eio, enospc, einval, ecanceled, short_io, eintr, eagain, delay };

const char* api_name(Api a) {
  switch (a) {
    case Api::basic: return "Basic";
    case Api::handle1: return "Handle1";
    case Api::handle3: return "Handle3";
    case Api::async3: return "Async3";
  }
  return "?";
}
const char* mem_name(Mem m) { return m == Mem::aligned ? "Aligned" : m == Mem::user ? "UserMem" : "Device"; }
const char* fault_name(Fault f) {
  switch (f) {
    case Fault::eio: return "EIO";
    case Fault::enospc: return "ENOSPC";
    case Fault::einval: return "EINVAL";
    case Fault::ecanceled: return "ECANCELED";
    case Fault::short_io: return "Short";
    case Fault::eintr: return "EINTR";
    case Fault::eagain: return "EAGAIN";
    case Fault::delay: return "Delay";
  }
  return "?";
}
void PrintTo(Api a, std::ostream* os) { *os << api_name(a); }
void PrintTo(Mem m, std::ostream* os) { *os << mem_name(m); }
void PrintTo(Fault f, std::ostream* os) { *os << fault_name(f); }

bool is_hard(Fault f) { return f == Fault::eio || f == Fault::enospc || f == Fault::einval || f == Fault::ecanceled; }
int errno_of(Fault f) {
  switch (f) {
    case Fault::eio: return EIO;
    case Fault::enospc: return ENOSPC;
    case Fault::einval: return EINVAL;
    case Fault::ecanceled: return ECANCELED;
    case Fault::eintr: return EINTR;
    case Fault::eagain: return EAGAIN;
    default: return 0;
  }
}

// Requests 5 to 7 (hard faults: request 5 only) meet the fault: past the first window, so
// other requests are in flight when it strikes.
std::vector<FaultRule> rules_for(Fault f) {
  FaultRule r;
  r.first = 5;
  r.count = is_hard(f) ? 1 : 3;
  switch (f) {
    case Fault::short_io: r.kind = FaultKind::short_io; break;
    case Fault::eintr:
    case Fault::eagain: r.kind = FaultKind::transient; r.error = errno_of(f); break;
    case Fault::delay: r.kind = FaultKind::delay; r.delay = 3ms; r.count = 10; break;
    default: r.kind = FaultKind::error; r.error = errno_of(f); break;
  }
  return {r};
}

EmulatedDevice& device() {
  static const std::shared_ptr<EmulatedDevice> d =
      make_emulated_device(EmulatedDeviceOptions{.min_delay_us = 0, .max_delay_us = 100, .seed = 5});
  return *d;
}

// The memory of one case: host memory the engine allocated, the caller's vector (misaligned by
// 3 bytes: staged), or emulated device memory mirrored by a host vector.
class Memory {
 public:
  Memory(Mem kind, std::size_t size) : size_(size) {
    if (kind == Mem::aligned) {
      host_ = HostBuffer(size);
      data_ = host_.data();
    } else {
      mirror_.resize(size + 3);
      data_ = mirror_.data() + 3;
      if (kind == Mem::device) device_ = DeviceBuffer(device().shared_from_this(), size);
    }
  }
  std::span<std::byte> host() { return {data_, size_}; }
  bool on_device() const { return device_.size() > 0; }
  DeviceSpan device_span() const { return device_.span(); }
  void upload() {
    if (on_device()) device().copy_to_device(device_span(), data_);
  }
  void download() {
    if (on_device()) device().copy_to_host(data_, device_span());
  }

 private:
  std::size_t size_;
  HostBuffer host_;
  std::vector<std::byte> mirror_;
  DeviceBuffer device_;
  std::byte* data_ = nullptr;
};

using Param = std::tuple<Api, bool /*overlap*/, Mem, bool /*write*/, Fault>;

class Faults : public ::testing::TestWithParam<Param> {
 protected:
  Api api() const { return std::get<0>(GetParam()); }
  bool write() const { return std::get<3>(GetParam()); }
  Fault fault() const { return std::get<4>(GetParam()); }

  Config config() const {
    Config c;
    c.block_size = 64 * 1024;
    c.queue_depth = 4;
    c.overlap_events = std::get<1>(GetParam());
    c.intra_op_parallelism = api() == Api::handle3 || api() == Api::async3 ? 3 : 1;
    c.device_chunk_size = 128 * 1024;
    c.device_chunks = 2;
    return c;
  }

  // One op through the case's API; throws what the op throws.
  OpResult run(Handle* handle, const Config& c, Memory& mem, const std::string& path) {
    if (write()) mem.upload();
    OpResult r;
    if (api() == Api::basic) {
      if (mem.on_device()) r = write() ? write_file(mem.device_span(), path, c) : read_file(mem.device_span(), path, c);
      else r = write() ? write_file(std::span<const std::byte>(mem.host()), path, c) : read_file(mem.host(), path, c);
    } else if (api() == Api::async3) {
      Handle::OpId id = 0;
      if (mem.on_device()) id = write() ? handle->async_pwrite(mem.device_span(), path) : handle->async_pread(mem.device_span(), path);
      else id = write() ? handle->async_pwrite(std::span<const std::byte>(mem.host()), path) : handle->async_pread(mem.host(), path);
      r = handle->wait(id);
    } else {
      if (mem.on_device()) r = write() ? handle->pwrite(mem.device_span(), path) : handle->pread(mem.device_span(), path);
      else r = write() ? handle->pwrite(std::span<const std::byte>(mem.host()), path) : handle->pread(mem.host(), path);
    }
    if (!write()) mem.download();
    return r;
  }

  // The bytes of the op are exact: the file after a write, the memory after a read.
  void expect_exact(Memory& mem, const std::string& path) {
    if (write()) {
      const auto content = read_plain(path);
      ASSERT_EQ(content.size(), kSize);
      EXPECT_EQ(first_pattern_mismatch(content, 0, kSeed), -1);
    } else {
      EXPECT_EQ(first_pattern_mismatch(mem.host(), 0, kSeed), -1);
    }
  }

  TempDir dir_;
};

TEST_P(Faults, TransientFaultsAreAbsorbedAndHardOnesReported) {
  const Mem mem_kind = std::get<2>(GetParam());
  const std::string path = dir_.file("faults.swp");
  Memory mem(mem_kind, kSize);
  if (write()) {
    fill_pattern(mem.host(), 0, kSeed);
  } else {
    std::vector<std::byte> content(kSize);
    fill_pattern(content, 0, kSeed);
    write_plain(path, content);
    std::memset(mem.host().data(), 0, kSize);
    mem.upload();
  }
  const std::size_t fds_before = open_fd_count();
  Config c = config();
  auto faults = std::make_shared<FaultInjector>(rules_for(fault()));
  c.faults = faults;
  {
    std::optional<Handle> handle;
    if (api() != Api::basic) handle.emplace(c);
    const std::size_t fds_with_handle = open_fd_count();
    if (!is_hard(fault())) {
      const OpResult r = run(handle ? &*handle : nullptr, c, mem, path);
      EXPECT_GE(faults->injected(), 1u);
      EXPECT_EQ(r.bytes, kSize);
      if (fault() != Fault::delay) {
        EXPECT_GE(r.resubmits, 1u) << "the injected fault was never retried";
      }
      expect_exact(mem, path);
    } else {
      try {
        run(handle ? &*handle : nullptr, c, mem, path);
        FAIL() << "an injected " << fault_name(fault()) << " must fail the op";
      } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_EQ(e.errnum(), errno_of(fault())) << what;
        EXPECT_EQ(e.path(), path) << what;
        EXPECT_NE(what.find(path), std::string::npos) << what;
        EXPECT_NE(what.find(" offset "), std::string::npos) << what;
        EXPECT_NE(what.find(" length "), std::string::npos) << what;
        EXPECT_NE(what.find(std::strerror(errno_of(fault()))), std::string::npos) << what;
        EXPECT_GT(e.length(), 0u) << what;
        EXPECT_LT(e.offset(), kSize) << what;
      }
      EXPECT_EQ(faults->injected(), 1u);
      // Usable afterwards: the same op again, without faults, moves exact bytes.
      faults->disarm();
      if (!write()) {
        std::memset(mem.host().data(), 0, kSize);
        mem.upload();
      }
      const OpResult r = run(handle ? &*handle : nullptr, c, mem, path);
      EXPECT_EQ(r.bytes, kSize);
      expect_exact(mem, path);
    }
    EXPECT_EQ(faults->in_flight(), 0) << "requests left in flight";
    EXPECT_EQ(open_fd_count(), fds_with_handle) << "descriptors leaked by the op";
  }
  EXPECT_EQ(open_fd_count(), fds_before) << "descriptors (files, rings) leaked";
  EXPECT_EQ(device().registered_bytes(), device().cached_staging_bytes())
      << "pinned staging outlived its handle outside the device's cache";
}

std::string case_name(const ::testing::TestParamInfo<Param>& info) {
  const auto& [api, overlap, mem, write, fault] = info.param;
  return std::string(api_name(api)) + (overlap ? "_Overlap_" : "_Sequential_") + mem_name(mem) +
         (write ? "_Write_" : "_Read_") + fault_name(fault);
}

INSTANTIATE_TEST_SUITE_P(Inject, Faults,
                         ::testing::Combine(::testing::Values(Api::basic, Api::handle1, Api::handle3, Api::async3),
                                            ::testing::Bool(),
                                            ::testing::Values(Mem::aligned, Mem::user, Mem::device),
                                            ::testing::Bool(),
                                            ::testing::Values(Fault::eio, Fault::enospc, Fault::einval,
                                                              Fault::ecanceled, Fault::short_io, Fault::eintr,
                                                              Fault::eagain, Fault::delay)),
                         case_name);

class FaultLimits : public ::testing::Test {
 protected:
  TempDir dir_;
};

// A transient fault that never clears is an error after a bounded number of retries, not a hang.
TEST_F(FaultLimits, EndlessEagainGivesUp) {
  const std::string path = dir_.file("eagain.swp");
  HostBuffer buf(1 * kMiB);
  fill_pattern(buf.span(), 0, kSeed);
  Config c;
  c.block_size = 256 * 1024;
  FaultRule r;
  r.kind = FaultKind::transient;
  r.error = EAGAIN;
  r.first = 2;
  r.count = 0;  // every request from the second on
  auto faults = std::make_shared<FaultInjector>(std::vector<FaultRule>{r});
  c.faults = faults;
  try {
    write_file(buf.span(), path, c);
    FAIL() << "endless EAGAIN must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), EAGAIN) << e.what();
  }
  EXPECT_GT(faults->injected(), 60u);
  EXPECT_EQ(faults->in_flight(), 0);
}

// Short transfers of every size, through every engine: what is not moved is moved again.
TEST_F(FaultLimits, ShortTransfersOfEveryEngineAreResumed) {
  for (Engine engine : {Engine::uring, Engine::aio, Engine::psync}) {
    for (std::uint32_t keep : {0u, 1u, 511u, 4096u, 65536u - 1}) {
      SCOPED_TRACE(std::string(to_string(engine)) + " keep " + std::to_string(keep));
      const std::string path = dir_.file("short.swp");
      HostBuffer buf(kMiB + 777);
      fill_pattern(buf.span(), 0, kSeed);
      Config c;
      c.engine = engine;
      c.block_size = 128 * 1024;
      FaultRule r;
      r.kind = FaultKind::short_io;
      r.keep = keep;
      r.count = 0;  // every request
      c.faults = std::make_shared<FaultInjector>(std::vector<FaultRule>{r});
      const OpResult w = write_file(buf.span(), path, c);
      EXPECT_GE(w.resubmits, 1u);
      EXPECT_EQ(first_pattern_mismatch(read_plain(path), 0, kSeed), -1);
      HostBuffer back(kMiB + 777);
      const OpResult rd = read_file(back.span(), path, c);
      EXPECT_GE(rd.resubmits, 1u);
      EXPECT_EQ(first_pattern_mismatch(back.span(), 0, kSeed), -1);
      EXPECT_EQ(std::filesystem::remove(path), true);
    }
  }
}

// One slice's hard fault stops the others: the op fails once, promptly, naming the fault.
TEST_F(FaultLimits, ThreadsStopWhenOneSliceFails) {
  const std::string path = dir_.file("stop.swp");
  HostBuffer buf(24 * kMiB);
  Config c;
  c.block_size = 64 * 1024;
  c.queue_depth = 2;
  c.intra_op_parallelism = 4;
  FaultRule slow;
  slow.kind = FaultKind::delay;
  slow.delay = 2ms;
  slow.count = 0;
  FaultRule fail;
  fail.kind = FaultKind::error;
  fail.error = EIO;
  fail.first = 3;
  auto faults = std::make_shared<FaultInjector>(std::vector<FaultRule>{fail, slow});
  c.faults = faults;
  Handle handle(c);
  EXPECT_THROW(handle.pwrite(std::span<const std::byte>(buf.span()), path), Error);
  // Unstopped, the four slices would prepare 384 requests; stopped, each has a few in flight.
  EXPECT_LT(faults->requests(), 100u) << "the other threads went on after the failure";
  EXPECT_EQ(faults->in_flight(), 0);
}

// A handle's op closes its file before it reports done: a caller that unmounts, or counts its
// descriptors, right after pread() returns must not find the file still open.
TEST_F(FaultLimits, NoDescriptorOutlivesItsOp) {
  const std::string path = dir_.file("fds.swp");
  std::vector<std::byte> content(256 * 1024);
  fill_pattern(content, 0, kSeed);
  write_plain(path, content);
  HostBuffer buf(content.size());
  Handle handle;
  const std::size_t fds = open_fd_count();
  for (int i = 0; i < 300; ++i) {
    handle.pread(buf.span(), path);
    ASSERT_EQ(open_fd_count(), fds) << "after op " << i;
    handle.wait(handle.async_pread(buf.span(), path));
    ASSERT_EQ(open_fd_count(), fds) << "after async op " << i;
  }
}

}  // namespace
}  // namespace swapio::test
