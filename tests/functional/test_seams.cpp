// The internal seams the two APIs and the emulated device share: the copy queue behind the host
// staging stream and the emulated GPU (in order, tickets, hold, drain), and the fan-out of an
// op's slices (run_slices) when an executor cannot take a slice.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <new>
#include <thread>
#include <vector>

#include "support.hpp"
#include "swapio/buffer.hpp"
#include "swapio/detail/copy_queue.hpp"
#include "swapio/detail/op.hpp"
#include "swapio/error.hpp"

namespace swapio::test {
namespace {

TEST(CopyQueue, CopiesRunInOrderAndTicketsSayWhenTheyDid) {
  auto queue = std::make_shared<detail::CopyQueue>();
  detail::QueuedStream stream(queue);
  std::vector<std::byte> src(1 << 20), dst(1 << 20);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<std::byte>(i * 7);
  queue->hold();
  // Two copies onto the same bytes: only their order decides what is left.
  stream.copy_to_host(dst.data(), src.data(), src.size());
  std::vector<std::byte> zeros(1 << 19);
  stream.copy_to_host(dst.data(), zeros.data(), zeros.size());
  const std::uint64_t ticket = stream.record();
  EXPECT_EQ(ticket, 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(stream.done(ticket)) << "a held queue ran a copy";
  EXPECT_EQ(queue->stats().copies, 0u);
  queue->release();
  stream.wait(ticket);
  EXPECT_TRUE(stream.done(ticket));
  for (std::size_t i = 0; i < dst.size(); ++i) {
    ASSERT_EQ(dst[i], i < zeros.size() ? std::byte{0} : src[i]) << "at " << i;
  }
  const detail::CopyQueue::Stats s = queue->stats();
  EXPECT_EQ(s.copies, 2u);
  EXPECT_EQ(s.bytes, src.size() + zeros.size());
  EXPECT_EQ(stream.record(), 2u);
  stream.drain();
  queue->synchronize();
}

TEST(CopyQueue, StreamsOnOneQueueKeepTheirOwnTickets) {
  auto queue = std::make_shared<detail::CopyQueue>(detail::CopyQueueOptions{0, 200, 7});
  detail::QueuedStream a(queue), b(queue);
  std::vector<std::byte> src(4096, std::byte{0x5a}), da(4096), db(4096);
  for (int round = 0; round < 50; ++round) {
    a.copy_to_device(da.data(), src.data(), src.size());
    const std::uint64_t ta = a.record();
    b.copy_to_device(db.data(), src.data(), src.size());
    const std::uint64_t tb = b.record();
    EXPECT_EQ(ta, static_cast<std::uint64_t>(round + 1));
    EXPECT_EQ(tb, static_cast<std::uint64_t>(round + 1));
    b.wait(tb);
    EXPECT_TRUE(a.done(ta)) << "a later marker completed before an earlier one";
  }
  EXPECT_EQ(da, src);
  EXPECT_EQ(db, src);
}

TEST(CopyQueue, TranslateMapsDeviceAddressesAndItsErrorsReachTheCaller) {
  std::vector<std::byte> backing(8192), host(8192, std::byte{1});
  auto queue = std::make_shared<detail::CopyQueue>();
  detail::QueuedStream stream(queue, [&](const std::byte* device, std::size_t bytes, const char* what) -> std::byte* {
    const auto off = reinterpret_cast<std::uintptr_t>(device);
    if (off + bytes > backing.size()) throw_io_error(EFAULT, std::string(what) + " test device", "", off, bytes);
    return backing.data() + off;
  });
  stream.copy_to_device(reinterpret_cast<std::byte*>(std::uintptr_t{4096}), host.data(), 4096);
  stream.wait(stream.record());
  EXPECT_EQ(backing[4096], std::byte{1});
  EXPECT_EQ(backing[4095], std::byte{0});
  try {
    stream.copy_to_host(host.data(), reinterpret_cast<std::byte*>(std::uintptr_t{8000}), 4096);
    ADD_FAILURE() << "a copy outside the device's memory was queued";
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), EFAULT);
    EXPECT_NE(std::string(e.what()).find("copy from test device"), std::string::npos) << e.what();
  }
}

// An executor that runs slice 0 on a thread of its own and cannot take slice 1.
class RefusesSecondSlice final : public detail::SliceExecutor {
 public:
  explicit RefusesSecondSlice(const Config& c) : config_(c) {}
  ~RefusesSecondSlice() override {
    for (auto& t : threads_) t.join();
  }
  void start(const std::shared_ptr<detail::OpRun>& op, std::size_t slice) override {
    if (slice == 1) throw std::bad_alloc();
    threads_.emplace_back([this, op, slice] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // still running when slice 1 fails
      detail::SliceRunner runner(config_);
      ran_ = true;
      op->run_slice(slice, runner);
    });
  }
  std::pair<std::string, std::string> engine() override { return {"test", ""}; }
  bool ran() const { return ran_; }

 private:
  Config config_;
  std::vector<std::thread> threads_;
  std::atomic<bool> ran_{false};
};

TEST(FanOut, ASliceThatCannotStartFailsTheOpAfterTheOthersStopped) {
  TempDir dir;
  Config c;
  c.intra_op_parallelism = 3;
  c.block_size = 64 * 1024;
  HostBuffer buf(3u << 20);
  fill_pattern(buf.span(), 0, 5);
  auto op = std::make_shared<detail::OpRun>(
      detail::prepare_op(c, Direction::write, buf.span(), dir.file("f"), 0, false));
  ASSERT_EQ(op->slices(), 3u);
  RefusesSecondSlice executor(c);
  EXPECT_THROW(detail::run_slices(op, executor), std::bad_alloc);
  // run_slices returned only after slice 0 ended (the op's ending, which closes its file, runs
  // when the last slice ends): the caller's memory is free again.
  EXPECT_TRUE(executor.ran());
  EXPECT_EQ(op->op().file.fd(), -1) << "run_slices returned before the started slice ended";
  EXPECT_EQ(op->take_error(), nullptr) << "the error was rethrown, not kept";
}

TEST(FanOut, AnOpWithoutSlicesCompletesAtOnceWithTheExecutorsEngine) {
  TempDir dir;
  write_plain(dir.file("e"), {});
  Config c;
  auto op = std::make_shared<detail::OpRun>(detail::prepare_op(c, Direction::read, std::span<std::byte>{}, dir.file("e"), 0, false));
  RefusesSecondSlice executor(c);
  detail::run_slices(op, executor);
  const OpResult r = op->result();
  EXPECT_EQ(r.bytes, 0u);
  EXPECT_EQ(r.engine, "test");
  EXPECT_FALSE(executor.ran());
}

}  // namespace
}  // namespace swapio::test
