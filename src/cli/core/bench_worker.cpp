// A bench worker process: set up, then one op per loop, each behind the parent's barrier.
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <memory>

#include "bench.hpp"
#include "histogram.hpp"
#include "subprocess.hpp"
#include "swapio/swapio.hpp"

namespace swapio::cli {
namespace {

constexpr int kReportFd = 3;
constexpr int kControlFd = 4;

void report(const nlohmann::json& event) {
  const std::string line = event.dump() + "\n";
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(kReportFd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) std::_Exit(3);  // the parent is gone: nobody to report to
    done += static_cast<std::size_t>(n);
  }
}

// Blocks until the parent releases the barrier; exits quietly if the parent is gone.
void barrier() {
  char go = 0;
  for (;;) {
    const ssize_t n = ::read(kControlFd, &go, 1);
    if (n == 1) return;
    if (n < 0 && errno == EINTR) continue;
    std::_Exit(3);
  }
}

double process_cpu_seconds() {
  struct rusage ru {};
  if (::getrusage(RUSAGE_SELF, &ru) != 0) throw_io_error(errno, "getrusage", "");
  return cpu_seconds(ru);
}

// The physical layout of the memory the requests move: the tensor, unless it is staged (a
// device tensor, --staging always), when the requests move swapio's ring, which is not measured.
nlohmann::json memory_layout(TensorSpan tensor, const Config& config) {
  if (tensor.on_device() || config.staging == StageMode::always) {
    return {{"memory", tensor.on_device() ? "staging ring (the tensor is in device memory)" : "staging ring (--staging always)"},
            {"source", nullptr}};
  }
  const PhysicalLayout l = physical_layout({tensor.data(), tensor.size()});
  if (!l.measured()) return {{"memory", "tensor"}, {"source", nullptr}};
  return {{"memory", "tensor"},
          {"source", l.source},
          {"contiguous_2m", l.contiguous_2m},
          {"huge_pages", l.huge_pages ? nlohmann::json(*l.huge_pages) : nlohmann::json()},
          {"worst_segments_per_mib", l.source == "pagemap" ? nlohmann::json(l.worst_segments_per_mib) : nlohmann::json()}};
}

// After the loops: a write against an independent buffered read of the file; a read against
// swapio's pattern when the file holds it, else against a second read. Returns which check ran.
std::string validate(Direction direction, TensorSpan tensor, const std::string& path) {
  if (direction == Direction::write) {
    validate_tensor(tensor, path, 0);
    return "written-bytes";
  }
  if (const auto seed = find_pattern_seed(tensor, 0)) {
    verify_pattern(tensor, *seed, path, 0);
    return "pattern";
  }
  validate_tensor(tensor, path, 0);
  return "second-read";
}

}  // namespace

int worker_main(const std::string& spec_text) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the parent
  nlohmann::json spec;
  try {
    spec = nlohmann::json::parse(spec_text);
  } catch (const std::exception& e) {
    report({{"event", "error"}, {"message", std::string("bad worker spec: ") + e.what()}});
    return 2;
  }
  try {
    report({{"event", "started"}, {"pid", ::getpid()}});
    barrier();

    const nlohmann::json& o = spec.at("options");
    const bool write = spec.at("write");
    const std::string path = spec.at("path");
    const unsigned process = spec.at("process");
    const bool use_handle = o.at("handle");
    const bool check = o.at("validate");
    const unsigned warmup = o.at("warmup_loops");
    const unsigned loops = o.at("loops");
    const Config config = config_from_json(o);

    const std::string device_spec = spec.value("device", "");

    std::uint64_t size = o.at("write_size");
    if (!write) size = File::open(loop_path(path, 0), Access::read, DirectMode::off).size();
    const bool per_loop = loop_path(path, 0) != path;  // a different file per loop
    // The tensor: host memory, or device memory filled through a bounded host piece.
    HostBuffer buf;
    std::shared_ptr<Device> device;
    DeviceBuffer device_buf;
    if (device_spec.empty()) {
      buf = HostBuffer(size);
      if (write) fill_pattern(buf.span(), process + 1, 0);
    } else {
      device = open_device(device_spec);
      device_buf = DeviceBuffer(device, size);
      if (write) {
        constexpr std::uint64_t kPiece = 64ull << 20;
        HostBuffer piece(static_cast<std::size_t>(std::min(size, kPiece)));
        for (std::uint64_t pos = 0; pos < size; pos += kPiece) {
          const auto n = static_cast<std::size_t>(std::min(kPiece, size - pos));
          fill_pattern(piece.span().first(n), process + 1, pos);
          device->copy_to_device(device_buf.span().subspan(pos, n), piece.data());
        }
      }
      // The staging rings registered now, once per process, as a training job's first op would
      // have: the timed loops measure the transfers, not cudaHostRegister.
      std::vector<StagingLease> rings;
      for (unsigned t = 0; t < config.intra_op_parallelism; ++t) {
        rings.push_back(device->lease_staging(static_cast<std::size_t>(config.device_chunks) * config.device_chunk_size));
      }
    }
    const Direction direction = write ? Direction::write : Direction::read;
    const TensorSpan tensor = device ? TensorSpan(device_buf.span()) : TensorSpan(buf.span());
    std::unique_ptr<Handle> handle;
    if (use_handle) handle = std::make_unique<Handle>(config);
    report({{"event", "ready"}, {"bytes", size}, {"memory", memory_layout(tensor, config)}});
    barrier();

    for (unsigned loop = 0; loop < warmup + loops; ++loop) {
      const double cpu0 = process_cpu_seconds();
      const auto t0 = std::chrono::steady_clock::now();
      const std::string file = loop_path(path, loop);
      const OpResult r = handle ? handle->transfer(direction, tensor, file) : transfer(direction, tensor, file, config);
      const double call_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double cpu = process_cpu_seconds() - cpu0;
      // The loops overwrite in place, as the harness's do. A longer file an earlier run left is
      // cut to this run's size once the first write is whole, never before its I/O (with
      // --atomic-replace each loop replaces the file whole instead).
      if (write && (loop == 0 || per_loop) && !config.atomic_replace &&
          ::truncate(file.c_str(), static_cast<off_t>(size)) != 0) {
        throw_io_error(errno, "truncate", file);
      }
      Histogram h;
      for (std::uint64_t ns : r.latencies_ns) h.add(ns);
      report({{"event", "loop"},
              {"loop", loop},
              {"warmup", loop < warmup},
              {"bytes", r.bytes},
              {"call_seconds", call_seconds},
              {"cpu_seconds", cpu},
              {"submit_seconds", r.submit_seconds},
              {"reap_seconds", r.reap_seconds},
              {"requests", r.requests},
              {"resubmits", r.resubmits},
              {"engine", r.engine},
              {"engine_note", r.engine_note},
              {"direct", r.direct},
              {"direct_note", r.direct_note},
              {"staged", r.staged},
              {"device", r.device},
              {"latency", h.to_json()}});
      barrier();
    }
    // After the timed loops, as the harness's post-task does: outside Task and E2E figures.
    // A file per loop: every file written holds the tensor; a read's tensor holds the last file.
    std::string checked;
    if (check && write) {
      for (unsigned loop = 0; loop < (per_loop ? warmup + loops : 1); ++loop) checked = validate(direction, tensor, loop_path(path, loop));
    } else if (check) {
      checked = validate(direction, tensor, loop_path(path, warmup + loops - 1));
    }
    report({{"event", "done"}, {"validated", check}, {"validation", checked}});
    return 0;
  } catch (const std::exception& e) {
    report({{"event", "error"}, {"message", e.what()}});
    return 1;
  }
}

}  // namespace swapio::cli
