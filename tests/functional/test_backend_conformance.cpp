// One conformance suite for the backends, instantiated per engine: the same requests, the same
// results, errors reported as -errno in the completion, never thrown or dropped.
#include <gtest/gtest.h>

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "support.hpp"
#include "swapio/detail/backend.hpp"
#include "swapio/swapio.hpp"

namespace swapio::test {
namespace {

using detail::Backend;
using detail::Completion;
using detail::Request;

class BackendConformance : public ::testing::TestWithParam<Engine> {
 protected:
  std::unique_ptr<Backend> make(unsigned depth) {
    Config c;
    c.engine = GetParam();
    c.queue_depth = depth;
    return detail::make_backend(c, nullptr);
  }
  // Reaps until n completions arrived.
  static std::vector<Completion> reap_all(Backend& b, std::size_t n) {
    std::vector<Completion> out(n);
    std::size_t got = 0;
    while (got < n) got += b.reap(std::span(out).subspan(got), 1);
    return out;
  }
  TempDir dir_;
};

TEST_P(BackendConformance, ReportsItsNameAndCapacity) {
  auto b = make(8);
  EXPECT_EQ(b->name(), to_string(GetParam()));
  EXPECT_EQ(b->capacity(), 8u);
}

TEST_P(BackendConformance, WritesThenReadsBackWithDirectIo) {
  constexpr std::size_t kReq = 64 * 1024, kCount = 8;
  const std::string path = dir_.file("conf.bin");
  File f = File::open(path, Access::write, DirectMode::automatic);
  HostBuffer out(kReq * kCount), in(kReq * kCount);
  fill_pattern(out.span(), 0, 3);
  auto b = make(kCount);
  for (std::uint32_t i = 0; i < kCount; ++i) {
    b->prepare(Request{f.fd(), out.data() + i * kReq, kReq, i * kReq, true, i});
  }
  b->submit();
  std::set<std::uint32_t> tags;
  for (const Completion& c : reap_all(*b, kCount)) {
    EXPECT_EQ(c.res, static_cast<std::int64_t>(kReq)) << "tag " << c.tag << ": " << std::strerror(static_cast<int>(-c.res));
    tags.insert(c.tag);
  }
  EXPECT_EQ(tags.size(), kCount) << "every tag comes back once";

  File r = File::open(path, Access::read, DirectMode::automatic);
  for (std::uint32_t i = 0; i < kCount; ++i) {
    b->prepare(Request{r.fd(), in.data() + i * kReq, kReq, i * kReq, false, 100 + i});
    b->submit();  // one at a time this time
  }
  for (const Completion& c : reap_all(*b, kCount)) {
    EXPECT_EQ(c.res, static_cast<std::int64_t>(kReq)) << std::strerror(static_cast<int>(-c.res));
    EXPECT_GE(c.tag, 100u);
  }
  EXPECT_EQ(first_pattern_mismatch(in.span(), 0, 3), -1);
}

TEST_P(BackendConformance, ErrorsComeBackAsNegativeErrno) {
  auto b = make(2);
  HostBuffer buf(4096);
  b->prepare(Request{-1, buf.data(), 4096, 0, false, 1});
  b->submit();
  const auto c = reap_all(*b, 1);
  EXPECT_EQ(c[0].tag, 1u);
  EXPECT_EQ(c[0].res, -EBADF);
}

TEST_P(BackendConformance, ReadAtEndOfFileIsShortNotAnError) {
  const std::string path = dir_.file("short.bin");
  std::vector<std::byte> content(1000);
  fill_pattern(content, 0, 5);
  write_plain(path, content);
  File f = File::open(path, Access::read, DirectMode::off);
  HostBuffer buf(8192);
  auto b = make(2);
  b->prepare(Request{f.fd(), buf.data(), 4096, 0, false, 1});
  b->prepare(Request{f.fd(), buf.data() + 4096, 4096, 4096, false, 2});
  b->submit();
  for (const Completion& c : reap_all(*b, 2)) {
    EXPECT_EQ(c.res, c.tag == 1 ? 1000 : 0) << "tag " << c.tag;
  }
  EXPECT_EQ(first_pattern_mismatch({buf.data(), 1000}, 0, 5), -1);
}

TEST_P(BackendConformance, CarriesAFullQueueAndMore) {
  // More requests than the depth, refilled as completions arrive.
  constexpr std::size_t kReq = 4096, kTotal = 100, kDepth = 8;
  const std::string path = dir_.file("many.bin");
  std::vector<std::byte> content(kReq * kTotal);
  fill_pattern(content, 0, 9);
  write_plain(path, content);
  File f = File::open(path, Access::read, DirectMode::automatic);
  HostBuffer buf(kReq * kTotal);
  auto b = make(kDepth);
  std::size_t next = 0, done = 0, in_flight = 0;
  std::vector<Completion> got(kDepth);
  while (done < kTotal) {
    while (in_flight < kDepth && next < kTotal) {
      b->prepare(Request{f.fd(), buf.data() + next * kReq, kReq, next * kReq, false, static_cast<std::uint32_t>(next)});
      ++next;
      ++in_flight;
    }
    b->submit();
    const std::size_t n = b->reap(got, 1);
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(got[i].res, static_cast<std::int64_t>(kReq));
    done += n;
    in_flight -= n;
  }
  EXPECT_EQ(first_pattern_mismatch(buf.span(), 0, 9), -1);
}

TEST_P(BackendConformance, FullTransferThroughTheEngine) {
  Config c;
  c.engine = GetParam();
  c.block_size = 64 * 1024;
  c.queue_depth = 4;
  HostBuffer out(1 << 20), in(1 << 20);
  fill_pattern(out.span(), 4096, 11);
  const std::string path = dir_.file("engine.bin");
  const OpResult w = write_file(out.span(), path, c, 4096, true);
  EXPECT_EQ(w.engine, to_string(c.engine));
  const OpResult r = read_file(in.span(), path, c, 4096, true);
  EXPECT_EQ(r.engine, w.engine);
  EXPECT_EQ(first_pattern_mismatch(in.span(), 4096, 11), -1);
}

// Every engine under the whole transfer layer: both APIs, odd sizes and offsets, memory that
// must be staged, and a short queue so that slots are reused.
TEST_P(BackendConformance, OddSizesOffsetsAndMemoryThroughBothApis) {
  Config c;
  c.engine = GetParam();
  c.block_size = 16 * 1024;
  c.queue_depth = 3;
  c.intra_op_parallelism = 2;
  Handle handle(c);
  for (const std::uint64_t size : {1ull, 16383ull, 3 * 16384ull + 123, 8 * 16384ull + 5}) {
    for (const std::uint64_t offset : {0ull, 1234ull, 8192ull}) {
      for (const bool staged : {false, true}) {
        for (const bool use_handle : {false, true}) {
          SCOPED_TRACE("size " + std::to_string(size) + " offset " + std::to_string(offset) +
                       (staged ? " misaligned memory" : " aligned memory") + (use_handle ? " handle" : " basic"));
          const std::string path = dir_.file("odd.bin");
          std::filesystem::remove(path);
          HostBuffer out(size + 1), in(size + 1);
          const std::span<std::byte> o = out.span().subspan(staged ? 1 : 0, size);
          const std::span<std::byte> i = in.span().subspan(staged ? 1 : 0, size);
          fill_pattern(o, offset, 17);
          const OpResult w = use_handle ? handle.pwrite(o, path, offset) : write_file(o, path, c, offset);
          EXPECT_EQ(w.engine, to_string(c.engine));
          const OpResult r = use_handle ? handle.pread(i, path, offset, true) : read_file(i, path, c, offset, true);
          EXPECT_EQ(r.bytes, size);
          EXPECT_EQ(first_pattern_mismatch(i, offset, 17), -1);
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, BackendConformance, ::testing::Values(Engine::uring, Engine::aio, Engine::psync),
                         [](const auto& p) { return std::string(to_string(p.param)); });

TEST(UringBackend, RegisteredBuffersAndFilesMoveTheSameBytes) {
  TempDir dir;
  Config c;
  c.engine = Engine::uring;
  c.block_size = 64 * 1024;
  c.register_buffers = true;
  c.register_files = true;
  HostBuffer out(1 << 20), in(1 << 20);
  fill_pattern(out.span(), 0, 13);
  const std::string path = dir.file("fixed.bin");
  write_file(out.span(), path, c);
  const OpResult r = read_file(in.span(), path, c);
  EXPECT_EQ(first_pattern_mismatch(in.span(), 0, 13), -1);
  // Where the memlock limit refuses registration, the engine says so and still works.
  if (!r.engine_note.empty()) {
    EXPECT_NE(r.engine_note.find("refused"), std::string::npos) << r.engine_note;
  }
}

TEST(Engines, AutoPicksUringWhereItWorksAndSaysWhyNot) {
  Config c;
  std::string note;
  auto b = detail::make_backend(c, &note);
  if (std::string(b->name()) != "uring") {
    EXPECT_NE(note.find("io_uring unavailable"), std::string::npos) << note;
  } else {
    EXPECT_STREQ(b->name(), "uring");
    EXPECT_EQ(note, "");
  }
}

}  // namespace
}  // namespace swapio::test
