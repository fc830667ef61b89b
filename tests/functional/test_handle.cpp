// Handle: async ops and wait(), several submitting threads, errors that reach wait() and a handle
// that stays usable after them.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>

#include "support.hpp"
#include "swapio/fault.hpp"
#include "swapio/swapio.hpp"

namespace swapio::test {
namespace {

Config small_blocks(unsigned threads) {
  Config c;
  c.block_size = 64 * 1024;
  c.queue_depth = 8;
  c.intra_op_parallelism = threads;
  return c;
}

TEST(Handle, AsyncWritesAndReadsThenWait) {
  TempDir dir;
  Handle h(small_blocks(2));
  EXPECT_TRUE(h.engine() == "uring" || h.engine() == "aio" || h.engine() == "psync") << h.engine();
  constexpr int kOps = 5;
  std::vector<HostBuffer> out, in;
  for (int i = 0; i < kOps; ++i) {
    out.emplace_back(300000 + i * 4097);
    fill_pattern(out.back().span(), 0, 20 + i);
    in.emplace_back(out.back().size());
  }
  std::vector<Handle::OpId> ids;
  for (int i = 0; i < kOps; ++i) ids.push_back(h.async_pwrite(out[i].span(), dir.file("t" + std::to_string(i))));
  for (std::size_t i = 1; i < ids.size(); ++i) EXPECT_NE(ids[i], ids[i - 1]);
  WaitResult w = h.wait();
  ASSERT_TRUE(w.ok()) << w.first_error_message;
  EXPECT_EQ(w.completed, std::size_t{kOps});
  ASSERT_EQ(w.results.size(), std::size_t{kOps});
  for (int i = 0; i < kOps; ++i) EXPECT_EQ(w.results[i].bytes, out[i].size());

  for (int i = 0; i < kOps; ++i) h.async_pread(in[i].span(), dir.file("t" + std::to_string(i)), 0, true);
  w = h.wait();
  ASSERT_TRUE(w.ok()) << w.first_error_message;
  EXPECT_EQ(w.completed, std::size_t{kOps});
  for (int i = 0; i < kOps; ++i) {
    EXPECT_TRUE(w.results[i].validated);
    EXPECT_EQ(first_pattern_mismatch(in[i].span(), 0, 20 + i), -1) << "op " << i;
  }
  EXPECT_EQ(h.wait().completed, 0u) << "nothing pending after a wait";
}

TEST(Handle, AnySizeIsSplitAcrossEveryThread) {
  TempDir dir;
  Handle h(small_blocks(3));
  HostBuffer out(3 * 1024 * 1024 + 7), in(3 * 1024 * 1024 + 7);
  fill_pattern(out.span(), 0, 30);
  const OpResult w = h.pwrite(out.span(), dir.file("split"));
  EXPECT_EQ(w.threads, 3u);
  EXPECT_EQ(w.bytes, out.size());
  const OpResult r = h.pread(in.span(), dir.file("split"));
  EXPECT_EQ(r.threads, 3u);
  EXPECT_EQ(first_pattern_mismatch(in.span(), 0, 30), -1);
}

TEST(Handle, SafeToCallFromSeveralThreads) {
  TempDir dir;
  Handle h(small_blocks(2));
  constexpr int kThreads = 4, kRounds = 5;
  std::vector<std::string> failures(kThreads);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        HostBuffer out(200000 + t), in(200000 + t);
        for (int round = 0; round < kRounds; ++round) {
          fill_pattern(out.span(), 0, 100 * t + round);
          const std::string path = dir.file("mt" + std::to_string(t));
          try {
            if (round % 2) {
              h.async_pwrite(out.span(), path);
              const WaitResult w = h.wait();  // may also collect other threads' ops: that is allowed
              if (!w.ok()) throw std::runtime_error(w.first_error_message);
            } else {
              h.pwrite(out.span(), path);
            }
            h.pread(in.span(), path);
          } catch (const std::exception& e) {
            failures[t] = e.what();
            return;
          }
          if (first_pattern_mismatch(in.span(), 0, 100 * t + round) != -1) {
            failures[t] = "round " + std::to_string(round) + " read back other bytes";
            return;
          }
        }
      });
    }
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], "") << "thread " << t;
}

// O_DIRECT is reported where bytes moved with it: a range wholly inside the buffered edges went
// through the page cache, whatever the file was opened with.
TEST(Handle, ARangeInTheEdgesAloneIsNotReportedDirect) {
  TempDir dir;
  if (!supports_direct(dir.path())) GTEST_SKIP() << dir.path() << " refuses O_DIRECT";
  Handle handle;
  HostBuffer buf(2 * kMiB);
  fill_pattern(buf.span(), 0, 5);
  const OpResult small = handle.pwrite(std::span<const std::byte>(buf.data(), 4095), dir.file("small"));
  EXPECT_FALSE(small.direct);
  EXPECT_NE(small.direct_note.find("buffered edges"), std::string::npos) << small.direct_note;
  const OpResult big = handle.pwrite(std::span<const std::byte>(buf.data(), kMiB + 4095), dir.file("big"));
  EXPECT_TRUE(big.direct);
  const OpResult back = handle.pread(std::span<std::byte>(buf.data(), 4095), dir.file("small"));
  EXPECT_FALSE(back.direct);
}

TEST(Handle, BadArgumentsThrowAtSubmission) {
  TempDir dir;
  Handle h(small_blocks(1));
  HostBuffer buf(4096);
  EXPECT_THROW(h.async_pread(buf.span(), dir.file("missing")), Error);
  EXPECT_EQ(h.wait().completed, 0u);
}

TEST(Handle, AnIoErrorReachesWaitAndTheHandleStaysUsable) {
  // One worker: a long write keeps it busy while the file of the queued read is truncated
  // behind its back, so the read meets a real end of file in the middle of its range.
  TempDir dir;
  Config c = small_blocks(1);
  Handle h(c);
  HostBuffer big(256u << 20), victim(1 << 20);
  fill_pattern(victim.span(), 0, 40);
  const std::string path = dir.file("victim");
  h.pwrite(victim.span(), path);
  h.async_pwrite(big.span(), dir.file("busy"));
  h.async_pread(victim.span(), path);
  ASSERT_EQ(::truncate(path.c_str(), 4096), 0);
  const WaitResult w = h.wait();
  EXPECT_EQ(w.completed, 2u);
  ASSERT_FALSE(w.ok()) << "the truncated read finished before the truncate: the busy write was too quick";
  EXPECT_NE(w.first_error_message.find("unexpected end of file"), std::string::npos) << w.first_error_message;
  EXPECT_NE(w.first_error_message.find(path), std::string::npos) << w.first_error_message;
  ASSERT_EQ(w.results.size(), 1u);
  EXPECT_TRUE(w.results[0].write);

  // And the handle goes on working.
  fill_pattern(victim.span(), 0, 41);
  h.pwrite(victim.span(), path, 0, true);
  HostBuffer in(victim.size());
  h.pread(in.span(), path);
  EXPECT_EQ(first_pattern_mismatch(in.span(), 0, 41), -1);
}

TEST(Handle, SyncErrorsAreThrownWithTheirContext) {
  TempDir dir;
  Handle h(small_blocks(2));
  HostBuffer buf(8192);
  std::vector<std::byte> content(100);
  write_plain(dir.file("tiny"), content);
  try {
    h.pread(buf.span(), dir.file("tiny"));
    ADD_FAILURE() << "read past the end was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("past end of file"), std::string::npos) << e.what();
  }
}

TEST(Handle, DestructorWaitsForOpsInFlight) {
  TempDir dir;
  HostBuffer out(8u << 20);
  fill_pattern(out.span(), 0, 50);
  {
    Handle h(small_blocks(2));
    h.async_pwrite(out.span(), dir.file("late"));
  }
  EXPECT_EQ(first_pattern_mismatch(read_plain(dir.file("late")), 0, 50), -1);
}

TEST(Handle, WaitForOneOp) {
  TempDir dir;
  Handle h(small_blocks(2));
  HostBuffer a(500000), b(700000);
  fill_pattern(a.span(), 0, 70);
  fill_pattern(b.span(), 0, 71);
  const Handle::OpId ia = h.async_pwrite(a.span(), dir.file("a"));
  const Handle::OpId ib = h.async_pwrite(b.span(), dir.file("b"));
  const OpResult rb = h.wait(ib);
  EXPECT_EQ(rb.bytes, b.size());
  EXPECT_EQ(first_pattern_mismatch(read_plain(dir.file("b")), 0, 71), -1);
  EXPECT_THROW(h.wait(ib), std::invalid_argument) << "an op is reported once";
  EXPECT_THROW(h.wait(ia + ib + 100), std::invalid_argument);
  const WaitResult w = h.wait();
  EXPECT_EQ(w.completed, 1u) << "only op a was left";
  EXPECT_EQ(first_pattern_mismatch(read_plain(dir.file("a")), 0, 70), -1);
}

TEST(Handle, WaitNeverReturnsBeforeTheCallersOpsAreDone) {
  // Another thread waiting at the same time may report our op, but our wait() must still not
  // return before it is done: the caller frees or reuses the buffer right after.
  TempDir dir;
  Handle h(small_blocks(2));
  std::atomic<bool> stop{false};
  std::jthread other([&] {
    while (!stop.load()) (void)h.wait();
  });
  HostBuffer out(4u << 20);
  for (int round = 0; round < 20; ++round) {
    fill_pattern(out.span(), 0, 80 + round);
    h.async_pwrite(out.span(), dir.file("w"));
    (void)h.wait();
    ASSERT_EQ(first_pattern_mismatch(read_plain(dir.file("w")), 0, 80 + round), -1) << "round " << round;
  }
  stop.store(true);
}

TEST(Handle, NotifyCallsBackOnceWhenTheOpHasEnded) {
  TempDir dir;
  Config c = small_blocks(2);
  FaultRule slow;  // every request held back, so that the op is still running when notify() is called
  slow.kind = FaultKind::delay;
  slow.count = 0;
  slow.delay = std::chrono::milliseconds(20);
  c.faults = std::make_shared<FaultInjector>(std::vector<FaultRule>{slow});
  Handle h(c);
  HostBuffer out(300000), in(300000);
  fill_pattern(out.span(), 0, 41);
  const auto caller = std::this_thread::get_id();
  std::atomic<int> calls{0};
  std::atomic<bool> on_caller{true};
  const Handle::OpId id = h.async_pwrite(out.span(), dir.file("n"));
  h.notify(id, [&] {
    on_caller = std::this_thread::get_id() == caller;
    ++calls;
  });
  EXPECT_EQ(calls.load(), 0) << "called back before the op had ended";
  EXPECT_EQ(h.wait(id).bytes, out.size());
  for (int i = 0; i < 1000 && calls.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_FALSE(on_caller.load()) << "a running op's callback runs on the worker that ends it";
  EXPECT_THROW(h.notify(id, [] {}), std::invalid_argument) << "already reported";

  // An op that has ended: called back at once, in the caller.
  const Handle::OpId done_id = h.async_pread(in.span(), dir.file("n"));
  while (!h.done(done_id)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  bool ran = false;
  h.notify(done_id, [&] { ran = std::this_thread::get_id() == caller; });
  EXPECT_TRUE(ran);
  EXPECT_THROW(h.notify(done_id + 100, [] {}), std::invalid_argument);
  EXPECT_EQ(h.wait().completed, 1u);
  EXPECT_EQ(first_pattern_mismatch(in.span(), 0, 41), -1);
}

TEST(Handle, PsyncEngineRunsTheSameOps) {
  TempDir dir;
  Config c = small_blocks(2);
  c.engine = Engine::psync;
  Handle h(c);
  EXPECT_EQ(h.engine(), "psync");
  HostBuffer out(1000003), in(1000003);
  fill_pattern(out.span(), 1234, 60);
  h.pwrite(out.span(), dir.file("ps"), 1234, true);
  const OpResult r = h.pread(in.span(), dir.file("ps"), 1234, true);
  EXPECT_EQ(r.engine, "psync");
  EXPECT_EQ(first_pattern_mismatch(in.span(), 1234, 60), -1);
}

}  // namespace
}  // namespace swapio::test
