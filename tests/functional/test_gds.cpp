// GPUDirect Storage through the stand-in libcufile.so.0 (tests/standin), loaded by the same
// dlopen path as NVIDIA's library, over the host emulation's device memory: round trips at odd
// sizes and offsets, each reason auto falls back for, gds=on's errors, cuFile's errors and short
// transfers, the registrations' caching, stream order and fork.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <thread>
#include <utility>
#include <filesystem>
#include <vector>

#include "../standin/cufile_standin.hpp"
#include "expect.hpp"
#include "support.hpp"
#include "swapio/gds.hpp"
#include "swapio/swapio.hpp"

namespace swapio::test {
namespace {

constexpr std::uint64_t kSeed = 41;

// Before anything loads cuFile: the stand-in, and nvidia-fs "loaded" (an existing path).
const bool g_env = [] {
  ::setenv("SWAPIO_CUFILE_LIBRARY", SWAPIO_CUFILE_STANDIN, 1);
  ::setenv("SWAPIO_NVIDIA_FS_PROC", "/", 1);
  return true;
}();

using standin::Counters;

Counters counters() {
  void* lib = ::dlopen(SWAPIO_CUFILE_STANDIN, RTLD_NOW | RTLD_NOLOAD);
  EXPECT_NE(lib, nullptr) << "the stand-in is not loaded";
  Counters c{};
  if (lib == nullptr) return c;
  auto fn = reinterpret_cast<standin::CountersFn>(::dlsym(lib, "swapio_cufile_standin_counters"));
  if (fn != nullptr) fn(&c);
  ::dlclose(lib);
  return c;
}

// An environment variable set for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (had_) ::setenv(name_, old_.c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

class Gds : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(g_env);
    if (!supports_direct(dir_.path())) GTEST_SKIP() << dir_.path() << " does not support O_DIRECT";
    const GdsInfo info = gds_info();
    ASSERT_TRUE(info.loaded) << info.why_not;
  }
  // Writes `size` pattern bytes from device memory at `mem_offset` in a buffer to `path` at
  // `offset`, then reads them back into another buffer; checks the file and the bytes.
  void round_trip(const Config& config, std::uint64_t size, std::uint64_t offset, std::uint64_t mem_offset,
                  OpResult* write_result = nullptr, OpResult* read_result = nullptr) {
    DeviceBuffer src(dev_, size + mem_offset + 7), dst(dev_, size + mem_offset + 7);
    const DeviceSpan from = src.span().subspan(mem_offset, size), to = dst.span().subspan(mem_offset, size);
    upload_pattern(*dev_, from, offset, kSeed);
    const std::string path = dir_.file("t" + std::to_string(size) + "_" + std::to_string(offset));
    Handle handle(config);
    const OpResult w = handle.pwrite(from, path, offset);
    ASSERT_EQ(w.bytes, size);
    const auto file = read_plain(path);
    ASSERT_EQ(file.size(), offset + size);
    EXPECT_EQ(first_pattern_mismatch(std::span(file).subspan(offset), offset, kSeed), -1)
        << "size " << size << " offset " << offset;
    const OpResult r = handle.pread(to, path, offset);
    ASSERT_EQ(r.bytes, size);
    EXPECT_EQ(first_pattern_mismatch(download(*dev_, to), offset, kSeed), -1) << "size " << size << " offset " << offset;
    if (write_result != nullptr) *write_result = w;
    if (read_result != nullptr) *read_result = r;
  }
  // Whether a 1 MiB write of device memory (in a checked round trip) went by cuFile, and its note.
  using Path = std::pair<bool, std::string>;
  Path write_path(const Config& config) {
    OpResult w;
    round_trip(config, 1 << 20, 0, 0, &w);
    return {w.gds, w.gds_note};
  }

  TempDir dir_;
  std::shared_ptr<EmulatedDevice> dev_ = make_emulated_device({.min_delay_us = 0, .max_delay_us = 30, .seed = 5});
};

TEST_F(Gds, RoundTripsAtOddSizesAndOffsets) {
  for (unsigned threads : {1u, 3u}) {
    Config c;
    c.block_size = 64 * 1024;
    c.intra_op_parallelism = threads;
    for (std::uint64_t size : {1ull, 4095ull, 4096ull, 1048576ull + 13, 3 * 1048576ull + 4097}) {
      for (std::uint64_t offset : {0ull, 4096ull, 513ull}) {
        const Counters before = counters();
        OpResult w, r;
        round_trip(c, size, offset, 1 + size % 5, &w, &r);
        const bool body = size >= 8192;  // an aligned block lies inside the range
        EXPECT_EQ(w.gds, true) << w.gds_note;
        EXPECT_EQ(r.gds, true) << r.gds_note;
        EXPECT_EQ(w.gds_note, "");
        const Counters after = counters();
        if (body) {
          EXPECT_GT(after.writes, before.writes) << "size " << size << " offset " << offset;
          EXPECT_GT(after.reads, before.reads) << "size " << size << " offset " << offset;
        }
        EXPECT_EQ(after.live_handles, before.live_handles) << "a file handle outlived its op";
      }
    }
  }
}

TEST_F(Gds, AutoFallsBackAndSaysWhy) {
  Config c;
  {
    const ScopedEnv compat("SWAPIO_NVIDIA_FS_PROC", "/nonexistent/nvidia-fs");
    EXPECT_EQ(write_path(c), Path(false, "nvidia-fs not loaded, cuFile compat mode"));
  }
  c.gds = GdsMode::off;
  EXPECT_EQ(write_path(c), Path(false, "gds=off"));
  c.gds = GdsMode::automatic;
  c.direct = DirectMode::off;
  EXPECT_EQ(write_path(c), Path(false, "direct=off, and cuFile needs O_DIRECT"));
  c.direct = DirectMode::automatic;
  {
    const ScopedEnv refuse("SWAPIO_STANDIN_HANDLE_ERROR", "5008");
    EXPECT_EQ(write_path(c), Path(false, "cuFileHandleRegister failed: CU_FILE_IO_NOT_SUPPORTED (5008): GDS is not "
                                         "supported on this file or filesystem"));
  }
  // Host memory never goes by cuFile, and says nothing of it.
  std::vector<std::byte> host(4096);
  Handle h(c);
  const OpResult hr = h.pwrite(std::span<const std::byte>(host), dir_.file("host"));
  EXPECT_FALSE(hr.gds);
  EXPECT_EQ(hr.gds_note, "");
}

TEST_F(Gds, TmpfsRefusesODirectSoAutoFallsBack) {
  if (!std::filesystem::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm";
  const std::string path = "/dev/shm/swapio-gds-" + std::to_string(::getpid());
  DeviceBuffer buf(dev_, 1 << 20);
  upload_pattern(*dev_, buf.span(), 0, kSeed);
  Handle h{Config{}};
  const OpResult w = h.pwrite(buf.span(), path);
  EXPECT_FALSE(w.gds);
  EXPECT_EQ(w.gds_note, "the filesystem refuses O_DIRECT");
  Config on;
  on.gds = GdsMode::on;
  Handle h_on(on);
  try {
    h_on.pread(buf.span(), path);
    ADD_FAILURE() << "gds=on read a tmpfs file";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "gds=on: no GPUDirect Storage for " + path + ": the filesystem refuses O_DIRECT");
  }
  std::filesystem::remove(path);
}

TEST_F(Gds, OnUsesCompatModeAndRefusesWhatAutoFallsBackFor) {
  Config c;
  c.gds = GdsMode::on;
  {
    const ScopedEnv compat("SWAPIO_NVIDIA_FS_PROC", "/nonexistent/nvidia-fs");
    EXPECT_EQ(write_path(c), Path(true, "cuFile compat mode: nvidia-fs not loaded"));
  }
  c.direct = DirectMode::off;
  DeviceBuffer buf(dev_, 8192);
  Handle h(c);
  const std::string path = dir_.file("on");
  EXPECT_THROW(h.pwrite(buf.span(), path), ConfigError);
  EXPECT_FALSE(std::filesystem::exists(path)) << "a refused write left the file it created";
}

TEST_F(Gds, ShortTransfersAreResumed) {
  const ScopedEnv cap("SWAPIO_STANDIN_MAX_IO", "12288");
  Config c;
  c.block_size = 1 << 20;
  const Counters before = counters();
  OpResult w, r;
  round_trip(c, 4 * 1048576 + 100, 0, 3, &w, &r);
  EXPECT_TRUE(w.gds);
  EXPECT_GT(w.resubmits, 0u);
  EXPECT_GT(r.resubmits, 0u);
  EXPECT_GT(counters().short_transfers, before.short_transfers);
}

TEST_F(Gds, CuFileErrorsNameTheCallPathOffsetAndStatus) {
  DeviceBuffer buf(dev_, 4 << 20);
  upload_pattern(*dev_, buf.span(), 0, kSeed);
  Config c;
  c.block_size = 1 << 20;
  Handle h(c);
  const std::string path = dir_.file("err");
  h.pwrite(buf.span(), path);
  {
    // Calls of 1 MiB (short transfers), the second one failing.
    const ScopedEnv cap("SWAPIO_STANDIN_MAX_IO", "1048576");
    const Counters now = counters();
    const std::string nth = std::to_string(now.reads + now.writes + 2) + ":5030";
    const ScopedEnv fail("SWAPIO_STANDIN_FAIL_IO", nth.c_str());
    try {
      h.pread(buf.span(), path);
      ADD_FAILURE() << "an injected cuFile error went unseen";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("cuFileRead"), std::string::npos) << what;
      EXPECT_NE(what.find(path), std::string::npos) << what;
      EXPECT_NE(what.find("CU_FILE_INTERNAL_ERROR (5030)"), std::string::npos) << what;
      EXPECT_EQ(e.offset(), 1u << 20) << what;
    }
  }
  {
    const Counters now = counters();
    const std::string nth = std::to_string(now.reads + now.writes + 1) + ":eio";
    const ScopedEnv fail("SWAPIO_STANDIN_FAIL_IO", nth.c_str());
    const std::string fresh = dir_.file("fresh");
    EXPECT_IO_ERROR(h.pwrite(buf.span(), fresh), EIO, "cuFileWrite");
    EXPECT_FALSE(std::filesystem::exists(fresh)) << "a failed write left the file it created";
  }
  EXPECT_EQ(counters().live_handles, 0);
}

TEST_F(Gds, RegistrationsAreCachedAndGivenBack) {
  const Counters before = counters();
  {
    DeviceBuffer buf(dev_, 2 << 20);
    upload_pattern(*dev_, buf.span(), 0, kSeed);
    Config c;
    c.intra_op_parallelism = 4;
    Handle h(c);
    for (int i = 0; i < 3; ++i) h.pwrite(buf.span(), dir_.file("reg" + std::to_string(i)));
    const Counters during = counters();
    EXPECT_EQ(during.buf_registers - before.buf_registers, 1) << "swapio's allocation registered more than once";
    EXPECT_EQ(during.handle_registers - before.handle_registers, 3) << "one handle per op, shared by its slices";
    EXPECT_EQ(during.live_handles, before.live_handles);
    EXPECT_EQ(gds_registered_buffers(), 1u);
  }
  const Counters after = counters();
  EXPECT_EQ(after.buf_deregisters - before.buf_deregisters, 1) << "freed memory stayed registered";
  EXPECT_EQ(after.live_buffers, before.live_buffers);
  EXPECT_EQ(gds_registered_buffers(), 0u);
}

TEST_F(Gds, ARefusedRegistrationMovesUnregisteredAndSaysSo) {
  const ScopedEnv refuse("SWAPIO_STANDIN_BUF_ERROR", "5036");
  const Counters before = counters();
  OpResult w, r;
  Config c;
  c.intra_op_parallelism = 2;
  round_trip(c, 2 << 20, 0, 0, &w, &r);
  EXPECT_TRUE(w.gds);
  const std::string said = "cuFileBufRegister refused swapio's allocation (CU_FILE_GPU_MEMORY_PINNING_FAILED (5036): GPU "
                           "memory could not be pinned): it moves unregistered, through cuFile's own bounce buffers";
  EXPECT_EQ(w.gds_note, said);
  EXPECT_EQ(r.gds_note, said);
  EXPECT_EQ(counters().buf_registers, before.buf_registers);
  EXPECT_EQ(gds_registered_buffers(), 0u);
}

TEST_F(Gds, CallersRegisterBuffersOnceAndErrorsSayWhy) {
  DeviceBuffer buf(dev_, 1 << 20);
  gds_register(buf.span());
  EXPECT_IO_ERROR(gds_register(buf.span()), EINVAL, "CU_FILE_MEMORY_ALREADY_REGISTERED");
  // A registered sub-range: ops inside it go with its base and offset.
  upload_pattern(*dev_, buf.span(), 0, kSeed);
  Handle h{Config{}};
  const std::string path = dir_.file("pinned");
  const OpResult w = h.pwrite(buf.span().subspan(4096, 65536), path);
  EXPECT_TRUE(w.gds);
  gds_deregister(buf.span());
  EXPECT_IO_ERROR(gds_deregister(buf.span()), EINVAL, "CU_FILE_MEMORY_NOT_REGISTERED");
  std::vector<std::byte> host(4096);
  EXPECT_THROW(gds_register(DeviceSpan{dev_.get(), host.data(), host.size()}), ConfigError);
}

TEST_F(Gds, WritesWaitForTheCallersStream) {
  DeviceBuffer buf(dev_, 1 << 20);
  upload_pattern(*dev_, buf.span(), 0, kSeed);
  void* stream = dev_->create_caller_stream(false);
  std::vector<std::byte> late(1 << 20);
  fill_pattern(late, 7777, kSeed);
  dev_->launch_write(stream, buf.span(), late, 20000);
  DeviceSpan span = buf.span();
  span.stream = stream;
  Handle h{Config{}};
  const std::string path = dir_.file("ordered");
  EXPECT_TRUE(h.pwrite(span, path).gds);
  EXPECT_EQ(first_pattern_mismatch(read_plain(path), 7777, kSeed), -1) << "cuFile saved bytes the kernel had not written";
}

TEST_F(Gds, AForkedChildNeverCallsCuFile) {
  DeviceBuffer buf(dev_, 1 << 20);
  upload_pattern(*dev_, buf.span(), 0, kSeed);
  Handle h{Config{}};
  ASSERT_TRUE(h.pwrite(buf.span(), dir_.file("parent")).gds);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The stand-in aborts on any call from here; exit() runs the exit handlers (cuFile's close).
    int code = 0;
    try {
      Handle child{Config{}};
      child.pwrite(buf.span(), dir_.file("child"));
      code = 3;  // the GPU path must refuse after fork
    } catch (const ConfigError&) {
    }
    if (gds_info().loaded != true) code = 4;
#if defined(__SANITIZE_ADDRESS__)
    // The leak check at exit would count the parent's threads' memory (they are not in the child).
    ::_exit(code);
#else
    std::exit(code);  // the exit handlers run: cuFile's close among them, which must not call it here
#endif
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(h.pwrite(buf.span(), dir_.file("after")).gds) << "the parent lost GDS";
}

// A child forked while another thread is inside the registry (registering a buffer) gets the
// registry unlocked: its own calls do not hang.
TEST_F(Gds, AForkDuringARegistrationLeavesTheChildsRegistryUsable) {
  DeviceBuffer buf(dev_, 1 << 20);
  std::atomic<bool> stop{false};
  std::thread registering([&] {
    while (!stop.load()) {
      gds_register(buf.span());
      gds_deregister(buf.span());
    }
  });
  int hung = 0, failed = 0;
  for (int i = 0; i < 40; ++i) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) ::_exit(gds_registered_buffers() <= 1 ? 0 : 1);
    int status = 0;
    bool ended = false;
    for (int t = 0; t < 500 && !ended; ++t) {
      ended = ::waitpid(pid, &status, WNOHANG) == pid;
      if (!ended) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!ended) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      ++hung;
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      ++failed;
    }
  }
  stop.store(true);
  registering.join();
  EXPECT_EQ(hung, 0) << "children hung on the registry's lock";
  EXPECT_EQ(failed, 0);
}

}  // namespace
}  // namespace swapio::test
