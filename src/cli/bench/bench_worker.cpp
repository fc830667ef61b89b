// A bench worker process: set up, then one op per loop, each behind the parent's barrier.
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <memory>

#include "bench/bench.hpp"
#include "bench/worker_channel.hpp"
#include "common/histogram.hpp"
#include "common/subprocess.hpp"
#include "swapio/swapio.hpp"

namespace swapio::cli {
namespace {

using worker_channel::barrier;
using worker_channel::report;

double process_cpu_seconds() {
  struct rusage ru {};
  if (::getrusage(RUSAGE_SELF, &ru) != 0) throw_io_error(errno, "getrusage", "");
  return cpu_seconds(ru);
}

// Which path device memory took: "yes", "yes (cuFile compat mode: ...)", "no: why"; "" for host
// memory.
std::string gds_path(const OpResult& r) {
  if (r.device.empty()) return "";
  if (!r.gds) return "no: " + r.gds_note;
  return r.gds_note.empty() ? "yes" : "yes (" + r.gds_note + ")";
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

// One worker's run, as its spec asks: the tensor set up once, then one op per loop, then the
// validation.
class Worker {
 public:
  explicit Worker(const nlohmann::json& spec)
      : write_(spec.at("write")),
        path_(spec.at("path")),
        process_(spec.at("process")),
        use_handle_(spec.at("options").at("handle")),
        check_(spec.at("options").at("validate")),
        warmup_(spec.at("options").at("warmup_loops")),
        loops_(spec.at("options").at("loops")),
        config_(config_from_json(spec.at("options"))),
        device_spec_(spec.value("device", "")),
        size_(spec.at("options").at("write_size")),
        direction_(write_ ? Direction::write : Direction::read) {}

  // The tensor (host memory, or device memory filled through a bounded host piece), and the
  // Handle with --handle. Returns the "ready" event.
  nlohmann::json set_up() {
    if (!write_) size_ = File::open(loop_path(path_, 0), Access::read, DirectMode::off).size();
    if (device_spec_.empty()) {
      buf_ = HostBuffer(size_);
      if (write_) fill_pattern(buf_.span(), process_ + 1, 0);
    } else {
      set_up_device_tensor();
    }
    tensor_ = device_ ? TensorSpan(device_buf_.span()) : TensorSpan(buf_.span());
    if (use_handle_) handle_ = std::make_unique<Handle>(config_);
    return {{"event", "ready"}, {"bytes", size_}, {"memory", memory_layout(tensor_, config_)}};
  }

  unsigned total_loops() const { return warmup_ + loops_; }

  // One op, timed as the harness times it. Returns the "loop" event.
  nlohmann::json run_loop(unsigned loop) {
    const double cpu0 = process_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    const std::string file = loop_path(path_, loop);
    const OpResult r = handle_ ? handle_->transfer(direction_, tensor_, file) : transfer(direction_, tensor_, file, config_);
    const double call_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = process_cpu_seconds() - cpu0;
    // The loops overwrite in place, as the harness's do. A longer file an earlier run left is
    // cut to this run's size once the first write is whole, never before its I/O (with
    // --atomic-replace each loop replaces the file whole instead).
    if (write_ && (loop == 0 || per_loop()) && !config_.atomic_replace &&
        ::truncate(file.c_str(), static_cast<off_t>(size_)) != 0) {
      throw_io_error(errno, "truncate", file);
    }
    Histogram h;
    for (std::uint64_t ns : r.latencies_ns) h.add(ns);
    return {{"event", "loop"},
            {"loop", loop},
            {"warmup", loop < warmup_},
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
            {"gds", gds_path(r)},
            {"latency", h.to_json()}};
  }

  // After the timed loops, as the harness's post-task does: outside Task and E2E figures.
  // A file per loop: every file written holds the tensor; a read's tensor holds the last file.
  // Returns the "done" event.
  nlohmann::json finish() const {
    std::string checked;
    if (check_ && write_) {
      for (unsigned loop = 0; loop < (per_loop() ? total_loops() : 1); ++loop) checked = validate(direction_, tensor_, loop_path(path_, loop));
    } else if (check_) {
      checked = validate(direction_, tensor_, loop_path(path_, total_loops() - 1));
    }
    return {{"event", "done"}, {"validated", check_}, {"validation", checked}};
  }

 private:
  bool per_loop() const { return loop_path(path_, 0) != path_; }  // a different file per loop

  void set_up_device_tensor() {
    device_ = open_device(device_spec_);
    device_buf_ = DeviceBuffer(device_, size_);
    if (write_) {
      constexpr std::uint64_t kPiece = 64ull << 20;
      HostBuffer piece(static_cast<std::size_t>(std::min(size_, kPiece)));
      for (std::uint64_t pos = 0; pos < size_; pos += kPiece) {
        const auto n = static_cast<std::size_t>(std::min(kPiece, size_ - pos));
        fill_pattern(piece.span().first(n), process_ + 1, pos);
        device_->copy_to_device(device_buf_.span().subspan(pos, n), piece.data());
      }
    }
    // The staging rings registered now, once per process, as a training job's first op would
    // have: the timed loops measure the transfers, not cudaHostRegister.
    std::vector<StagingLease> rings;
    for (unsigned t = 0; t < config_.intra_op_parallelism; ++t) {
      rings.push_back(device_->lease_staging(static_cast<std::size_t>(config_.device_chunks) * config_.device_chunk_size));
    }
  }

  const bool write_;
  const std::string path_;
  const unsigned process_;
  const bool use_handle_, check_;
  const unsigned warmup_, loops_;
  const Config config_;
  const std::string device_spec_;
  std::uint64_t size_;
  const Direction direction_;
  HostBuffer buf_;
  std::shared_ptr<Device> device_;
  DeviceBuffer device_buf_;
  TensorSpan tensor_;
  std::unique_ptr<Handle> handle_;
};

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
    Worker worker(spec);
    report(worker.set_up());
    barrier();
    for (unsigned loop = 0; loop < worker.total_loops(); ++loop) {
      report(worker.run_loop(loop));
      barrier();
    }
    report(worker.finish());
    return 0;
  } catch (const std::exception& e) {
    report({{"event", "error"}, {"message", e.what()}});
    return 1;
  }
}

}  // namespace swapio::cli
