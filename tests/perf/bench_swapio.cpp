// Micro-benchmarks: read and write through the basic API and a Handle over block size x queue
// depth x io_parallel x engine. Bytes per second are GiB/s-ready (2^30), real time.
//   SWAPIO_PERF_DIR   folder for the files (else SWAPIO_PERF_DIR_DEFAULT, else the current directory)
//   SWAPIO_PERF_SIZE  bytes per op (default 256M; K/M/G suffixes)
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <memory>
#include <vector>

#include "swapio/swapio.hpp"

namespace {

// SWAPIO_PERF_DIR (its first folder when colon-separated), else the configured default.
std::string folder() {
  for (const char* name : {"SWAPIO_PERF_DIR", "SWAPIO_PERF_DIR_DEFAULT"}) {
    const char* d = std::getenv(name);
    if (d != nullptr && *d != '\0') {
      const std::string s = d;
      return s.substr(0, s.find(':'));
    }
  }
  return ".";
}

std::uint64_t op_size() {
  const char* s = std::getenv("SWAPIO_PERF_SIZE");
  return s != nullptr && *s != '\0' ? swapio::parse_size(s) : 256ull << 20;
}

// args: handle(0/1), block KiB, queue depth, io_parallel, engine (0 uring, 1 psync, 2 aio), write(0/1),
// single_submit(0/1), overlap_events(0/1)
void BM_Transfer(benchmark::State& state) {
  swapio::Config c;
  const bool use_handle = state.range(0) != 0;
  c.block_size = static_cast<std::uint64_t>(state.range(1)) << 10;
  c.queue_depth = static_cast<unsigned>(state.range(2));
  c.intra_op_parallelism = static_cast<unsigned>(state.range(3));
  c.engine = state.range(4) == 0 ? swapio::Engine::uring : state.range(4) == 1 ? swapio::Engine::psync : swapio::Engine::aio;
  const bool write = state.range(5) != 0;
  c.single_submit = state.range(6) != 0;
  c.overlap_events = state.range(7) != 0;
  const std::string path = folder() + "/swapio_bench." + std::to_string(::getpid()) + ".swp";
  try {
    swapio::HostBuffer buf(op_size());
    std::memset(buf.data(), 0x5a, buf.size());
    swapio::Handle handle(c);
    if (!write) handle.pwrite(buf.span(), path);  // reads need the file first
    for (auto _ : state) {
      const swapio::OpResult r = write ? (use_handle ? handle.pwrite(buf.span(), path)
                                                     : swapio::write_file(buf.span(), path, c))
                                       : (use_handle ? handle.pread(buf.span(), path)
                                                     : swapio::read_file(buf.span(), path, c));
      benchmark::DoNotOptimize(r.bytes);
      if (write) ::unlink(path.c_str());  // every write goes to a fresh file, as the harness does
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * buf.size()));
    state.SetLabel(std::string(write ? "write " : "read ") + (use_handle ? "handle" : "basic") + " " +
                   std::string(swapio::to_string(c.engine)) + (c.single_submit ? " single-submit" : "") +
                   (c.overlap_events ? "" : " sequential"));
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
  ::unlink(path.c_str());
}

// A caller's tensor in ordinary memory (page-aligned malloc'd memory, as a framework's allocator
// gives: 4 KiB pages wherever the kernel put them) against the same bytes in a HostBuffer, with
// staging off and at its default.
// args: memory (0 HostBuffer, 1 vector), staging (0 never, 1 auto), write(0/1)
void BM_UserMemory(benchmark::State& state) {
  swapio::Config c;
  const bool vector_memory = state.range(0) != 0;
  c.staging = state.range(1) == 0 ? swapio::StageMode::never : swapio::StageMode::automatic;
  const bool write = state.range(2) != 0;
  const std::string path = folder() + "/swapio_bench_user." + std::to_string(::getpid()) + ".swp";
  try {
    swapio::HostBuffer host(vector_memory ? 0 : op_size());
    const std::size_t n = vector_memory ? static_cast<std::size_t>(op_size()) : 0;
    std::unique_ptr<std::byte, decltype(&std::free)> plain(
        n ? static_cast<std::byte*>(std::aligned_alloc(4096, (n + 4095) / 4096 * 4096)) : nullptr, &std::free);
    if (n && !plain) throw std::bad_alloc();
    const std::span<std::byte> buf = vector_memory ? std::span<std::byte>(plain.get(), n) : host.span();
    std::memset(buf.data(), 0x5a, buf.size());
    swapio::Handle handle(c);
    if (!write) handle.pwrite(buf, path);
    bool staged = false;
    for (auto _ : state) {
      const swapio::OpResult r = write ? handle.pwrite(buf, path) : handle.pread(buf, path);
      staged = r.staged;
      if (write) ::unlink(path.c_str());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * buf.size()));
    state.SetLabel(std::string(write ? "write " : "read ") + (vector_memory ? "malloc" : "HostBuffer") + " staging " +
                   std::string(swapio::to_string(c.staging)) + (staged ? " (staged)" : " (direct)"));
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
  ::unlink(path.c_str());
}

void grid(benchmark::internal::Benchmark* b) {
  for (int write : {0, 1}) {
    for (int engine : {0, 2, 1}) {
      for (int handle : {0, 1}) {
        for (int block_kib : {1024, 8192}) {
          for (int qd : {8, 32}) {
            for (int par : {1, 2}) {
              if (engine != 0 && (qd != 32 || block_kib != 1024)) continue;  // the others: the default point
              b->Args({handle, block_kib, qd, par, engine, write, 0, 1});
            }
          }
        }
      }
    }
    // The schedule knobs at the default point (handle, 1 MiB, QD 32, 1 thread, uring).
    for (int single : {0, 1}) {
      for (int overlap : {0, 1}) {
        if (single == 0 && overlap == 1) continue;  // already in the grid
        b->Args({1, 1024, 32, 1, 0, write, single, overlap});
      }
    }
  }
  b->ArgNames({"handle", "block_kib", "qd", "par", "engine", "write", "single", "overlap"});
}

BENCHMARK(BM_UserMemory)
    ->ArgsProduct({{0, 1}, {0, 1}, {0, 1}})
    ->ArgNames({"malloc", "auto_staging", "write"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.5);
BENCHMARK(BM_Transfer)->Apply(grid)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(0.5);

}  // namespace

BENCHMARK_MAIN();
