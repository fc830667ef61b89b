#include "bench/bench.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "bench/bench_phase.hpp"
#include "common/facts.hpp"
#include "swapio/file.hpp"
#include "swapio/error.hpp"

namespace swapio::cli {
namespace {

std::string human_size(std::uint64_t b) { return format_bytes(b); }

void print_phase(const BenchOptions& o, const nlohmann::json& ph) {
  const bool write = ph.at("op") == "write";
  const char* Op = write ? "Write" : "Read";
  const auto& agg = ph.at("aggregate");
  const auto& lat = ph.at("latency_us");
  // Device memory whose body went by GPUDirect Storage ("yes", "yes (cuFile compat mode: ...)").
  const bool by_gds = ph.at("gds").is_string() && ph.at("gds").get<std::string>().rfind("yes", 0) == 0;
  std::printf("\n%s: %s per process x %u process%s, %u loop%s (+%u warmup)\n", write ? "write" : "read",
              human_size(ph.at("bytes_per_process").get<std::uint64_t>()).c_str(), o.threads, o.threads == 1 ? "" : "es",
              o.loops, o.loops == 1 ? "" : "s", o.warmup_loops);
  if (o.gpu) {
    std::set<std::string> devices;
    for (unsigned i = 0; i < o.threads; ++i) devices.insert(o.device_for(i));
    std::string names;
    for (const auto& d : devices) names += (names.empty() ? "" : ", ") + d;
    if (by_gds) {
      std::printf("  tensor in device memory (%s), moved by GPUDirect Storage (cuFile); unaligned edges staged\n",
                  names.c_str());
    } else {
      std::printf("  tensor in device memory (%s), staged through %u x %s pinned chunks per thread\n", names.c_str(),
                  o.config.device_chunks, human_size(o.config.device_chunk_size).c_str());
    }
  }
  std::printf("  api %s, block %s, queue depth %u, %s, %s, engine %s, O_DIRECT %s\n",
              o.handle ? ("handle (io_parallel " + std::to_string(o.config.intra_op_parallelism) + ")").c_str() : "basic",
              human_size(o.config.block_size).c_str(), o.config.queue_depth,
              o.config.overlap_events ? "overlapped" : "sequential",
              o.config.single_submit ? "single submit" : "batch submit", ph.at("engine").get<std::string>().c_str(),
              ph.at("direct").get<bool>() ? "yes" : "no");
  std::printf("  I/O memory: %s\n", by_gds ? "the tensor's device memory, by cuFile (the edges through the staging ring)"
                                           : layout_line(ph.at("memory_layout")).c_str());
  for (const auto& w : ph.at("memory_layout").at("warnings")) std::printf("  warning: %s\n", w.get<std::string>().c_str());
  std::printf("  %4s  %14s  %12s  %14s  %12s\n", "loop", "task latency", "task speed", "e2e latency", "e2e speed");
  for (const auto& l : ph.at("loops")) {
    std::printf("  %4d  %12.4f s  %7.2f GiB/s  %12.4f s  %7.2f GiB/s\n", l.at("loop").get<int>(),
                l.at("task_latency_s").get<double>(), l.at("task_gib_per_s").get<double>(),
                l.at("e2e_latency_s").get<double>(), l.at("e2e_gib_per_s").get<double>());
  }
  // The reference harness's lines, in its exact form (GB = 2^30 bytes there too).
  std::printf("Task %s Latency = %.4f sec\n", Op, agg.at("task_latency_s").get<double>());
  std::printf("Task %s Speed = %.2f GB/sec\n", Op, agg.at("task_gib_per_s").get<double>());
  std::printf("E2E %s Latency = %.4f sec\n", Op, agg.at("e2e_latency_s").get<double>());
  std::printf("E2E %s Speed = %.2f GB/sec\n", Op, agg.at("e2e_gib_per_s").get<double>());
  const auto requests = lat.at("requests").get<std::uint64_t>();
  std::printf("  request latency: p50 %.0f us, p99 %.0f us, p99.9 %.0f us, max %.0f us (%llu request%s, %llu resumed)\n",
              lat.at("p50").get<double>(), lat.at("p99").get<double>(), lat.at("p99.9").get<double>(),
              lat.at("max").get<double>(), static_cast<unsigned long long>(requests), requests == 1 ? "" : "s",
              static_cast<unsigned long long>(ph.at("resubmits").get<std::uint64_t>()));
  std::printf("  submit %.4f s, reap %.4f s (summed over threads); CPU %.3f s per GiB\n",
              ph.at("submit_seconds").get<double>(), ph.at("reap_seconds").get<double>(),
              ph.at("cpu_seconds_per_gib").get<double>());
  if (o.validate) {
    std::printf("  validation: %s\n", ph.at("validated").get<bool>() ? "passed" : "NOT validated");
    for (const auto& c : ph.at("validation")) {
      const std::string check = c;
      if (check == "written-bytes") std::printf("    an independent buffered read of the file matches the bytes written\n");
      if (check == "pattern") std::printf("    every byte read matches swapio's pattern\n");
      if (check == "second-read") {
        std::printf("    a second, buffered read gave the same bytes (the file is not in swapio's pattern, so its "
                    "content itself was not checked)\n");
      }
    }
  }
  if (ph.at("gds").is_string()) std::printf("  GDS: %s\n", ph.at("gds").get<std::string>().c_str());
  for (const auto& n : ph.at("notes")) std::printf("  note: %s\n", n.get<std::string>().c_str());
}

// Removes the files, then waits (at most 2 s) until their space is free again: a killed worker's
// io_uring is torn down by the kernel after the worker is reaped, and until then its ring holds
// the files (registered, or under requests in flight). So the next command finds the space the
// run held. Never throws.
void remove_files(const std::vector<std::string>& paths) noexcept try {
  struct Filesystem {
    std::string probe;  // a folder on it
    std::uint64_t free_before = 0, freed = 0;
  };
  std::map<dev_t, Filesystem> filesystems;
  const auto free_bytes = [](const std::string& folder) -> std::uint64_t {
    struct statvfs v {};
    return ::statvfs(folder.c_str(), &v) == 0 ? static_cast<std::uint64_t>(v.f_bfree) * v.f_frsize : 0;
  };
  for (const auto& p : paths) {
    struct stat st {};
    // Only the last name of a file frees its blocks.
    if (::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1) {
      const std::string folder = std::filesystem::path(p).parent_path().empty()
                                     ? std::string(".")
                                     : std::filesystem::path(p).parent_path().string();
      auto [it, fresh] = filesystems.try_emplace(st.st_dev);
      if (fresh) it->second = {folder, free_bytes(folder), 0};
      it->second.freed += static_cast<std::uint64_t>(st.st_blocks) * 512;
    }
    std::error_code ec;
    std::filesystem::remove(p, ec);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (const auto& [dev, fs] : filesystems) {
    // Within 1% (others may write meanwhile), the blocks the files held are free again.
    const std::uint64_t want = fs.free_before + fs.freed - fs.freed / 100;
    while (free_bytes(fs.probe) < want) {
      if (std::chrono::steady_clock::now() > deadline) {
        std::fprintf(stderr, "swapio bench: note: the space of the files removed in %s was not free again within 2 s "
                     "(the filesystem frees it later, others write there, or another process holds them open)\n",
                     fs.probe.c_str());
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
} catch (...) {
  // Out of memory while removing: what was not removed stays; nothing else to do here.
}

// After a failed write phase in place: the files the run created go (through a link, the file it
// created, never the link); those that existed before stay, and are named, since the run may
// have overwritten part of them.
void clean_up_failed_writes(const std::vector<std::string>& paths, const std::vector<bool>& existed) {
  std::string partial;
  std::vector<std::string> created;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (existed[i]) {
      partial += (partial.empty() ? "" : ", ") + paths[i];
      continue;
    }
    std::error_code ec;
    const bool link = std::filesystem::is_symlink(paths[i], ec);
    const std::filesystem::path target = link ? std::filesystem::canonical(paths[i], ec) : std::filesystem::path(paths[i]);
    if (!ec) created.push_back(target.string());
  }
  remove_files(created);
  if (!partial.empty()) {
    std::fprintf(stderr, "swapio bench: %s existed and %s being overwritten in place: %s may now hold part of the new bytes\n",
                 partial.c_str(), partial.find(", ") == std::string::npos ? "was" : "were",
                 partial.find(", ") == std::string::npos ? "it" : "each");
  }
}

// A phase of the run: the reads or the writes, process i's file paths[i].
struct Step {
  bool write;
  std::vector<std::string> paths;
};

// --quick writes then reads back each process's own file; otherwise the reads, then the writes.
std::vector<Step> plan_steps(const BenchOptions& o, const std::vector<std::string>& write_paths) {
  std::vector<Step> steps;
  if (o.quick) {
    steps.push_back({true, write_paths});
    steps.push_back({false, write_paths});  // each process reads back its own file
    return steps;
  }
  if (!o.read_file.empty()) {
    std::vector<std::string> paths;
    for (unsigned i = 0; i < o.threads; ++i) paths.push_back(o.path_for(false, i));
    steps.push_back({false, paths});
  }
  if (!o.write_file.empty()) steps.push_back({true, write_paths});
  return steps;
}

// The report's frame, before any phase: the configuration and, with --json, the run's facts.
nlohmann::json start_report(const BenchOptions& o) {
  nlohmann::json report = {{"swapio_bench", 1}, {"schema_version", kReportSchemaVersion}, {"config", o.to_json()},
                           {"phases", nlohmann::json::array()}};
  if (o.json) {
    std::vector<std::string> folders = o.folders;
    if (folders.empty()) {
      for (const std::string& f : {o.read_file, o.write_file}) {
        if (!f.empty()) folders.push_back(folder_of(f));
      }
    }
    report["facts"] = run_facts(folders);
  }
  return report;
}

// Runs one phase and shows it: printed for people, or with --json (stdout is the document) its
// warnings on stderr. Returns its report.
nlohmann::json run_step(const BenchOptions& o, const Step& step) {
  nlohmann::json ph = run_phase(o, step.write, step.paths);
  if (!o.json) print_phase(o, ph);
  if (o.json) {
    for (const auto& w : ph.at("memory_layout").at("warnings")) {
      std::fprintf(stderr, "swapio bench: warning: %s\n", w.get<std::string>().c_str());
    }
  }
  return ph;
}

// The timed loops every worker finished before one failed: printed, and kept in the report.
void keep_finished_loops(const BenchOptions& o, const Step& step, const WorkerFailure& e, nlohmann::json& report) {
  if (!o.json) {
    std::printf("%s: the %llu timed loop(s) that finished before the failure:\n", step.write ? "write" : "read",
                static_cast<unsigned long long>(e.finished.at("loops_finished").get<std::uint64_t>()));
    for (const auto& l : e.finished.at("loops")) {
      std::printf("  loop %llu: task %.4f s, %.2f GiB/s; e2e %.4f s, %.2f GiB/s\n",
                  static_cast<unsigned long long>(l.at("loop").get<std::uint64_t>()),
                  l.at("task_latency_s").get<double>(), l.at("task_gib_per_s").get<double>(),
                  l.at("e2e_latency_s").get<double>(), l.at("e2e_gib_per_s").get<double>());
    }
  }
  report["phases"].push_back(e.finished);
}

}  // namespace

int run_bench(const BenchOptions& o) {
  catch_interrupts();
  std::vector<std::string> write_paths, written;  // per process (the workers' name); every file
  for (unsigned i = 0; i < o.threads; ++i) {
    write_paths.push_back(o.path_for(true, i));
    for (const std::string& f : o.files_for(true, i)) written.push_back(f);
  }
  std::vector<bool> existed;  // before the run (through links): a failed run removes only what it created
  for (const std::string& p : written) existed.push_back(::access(p.c_str(), F_OK) == 0);
  const std::vector<Step> steps = plan_steps(o, write_paths);

  nlohmann::json report = start_report(o);
  if (!o.json) {
    std::printf("swapio bench: %u process%s; GiB/s = 2^30 bytes/s (\"GB\" in the Task/E2E lines is 2^30 bytes too)\n",
                o.threads, o.threads == 1 ? "" : "es");
  }
  int status = 0;
  for (const Step& step : steps) {
    try {
      report["phases"].push_back(run_step(o, step));
    } catch (const std::exception& e) {
      std::fflush(stdout);
      std::fprintf(stderr, "swapio bench: %s\n", e.what());
      if (const auto* failure = dynamic_cast<const WorkerFailure*>(&e); failure != nullptr && !failure->finished.is_null()) {
        keep_finished_loops(o, step, *failure, report);
      }
      // A replacing run never touched the files in place: each holds its old content or a whole
      // new one. In place, what the run created goes and what existed is named.
      if (step.write && !o.config.atomic_replace && !o.quick) clean_up_failed_writes(written, existed);
      report["error"] = e.what();
      status = interrupt_signal() != 0 ? 128 + interrupt_signal() : 1;
      break;
    }
  }
  if (o.quick) remove_files(write_paths);
  if (o.json) std::cout << report.dump(2) << std::endl;
  return status;
}

}  // namespace swapio::cli
