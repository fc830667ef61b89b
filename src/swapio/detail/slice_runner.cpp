#include "swapio/detail/slice_runner.hpp"

#include <exception>
#include <optional>

#include "swapio/detail/copy_queue.hpp"
#include "swapio/detail/edges.hpp"
#include "swapio/detail/plan.hpp"
#include "swapio/detail/request_window.hpp"
#include "swapio/detail/staging_ring.hpp"

namespace swapio::detail {
namespace {

// Detaches the file and unregisters buffers however the body ends.
struct Attachment {
  Backend& backend;
  bool buffers = false;
  ~Attachment() {
    backend.detach_file();
    if (buffers) backend.unregister_buffer();
  }
};

}  // namespace

SliceRunner::SliceRunner(const Config& config) : config_(config), backend_(make_backend(config, &fallback_note_)) {}

SliceRunner::~SliceRunner() {
  host_copy_.reset();
  release_device();
}

std::string SliceRunner::engine_note() const {
  std::string note = fallback_note_;
  const std::string degraded = backend_->notes();
  if (!degraded.empty()) note += (note.empty() ? "" : "; ") + degraded;
  return note;
}

void SliceRunner::release_device() noexcept {
  stream_.reset();  // drains its copies
  lease_ = StagingLease();
  device_.reset();
}

// On a change of device only the stream changes: the leased staging is registered portable, for
// every device of its driver.
DeviceStream& SliceRunner::stream_for(Device& device) {
  if (device_.get() != &device || !stream_) {
    auto stream = device.create_stream();  // first: a failure leaves the runner as it was
    stream_.reset();
    if (device_ && &device_->driver() != &device.driver()) lease_ = StagingLease();
    device_ = device.shared_from_this();
    stream_ = std::move(stream);
  }
  return *stream_;
}

std::byte* SliceRunner::staging(std::size_t bytes, Device* device) {
  if (device != nullptr) {
    if (lease_.size() < bytes) {
      lease_ = StagingLease();  // back to the cache first: the new lease may be it
      lease_ = device->lease_staging(bytes);
    }
    return lease_.data();
  }
  if (staging_.size() < bytes) staging_ = HostBuffer(bytes, MemoryKind::aligned);
  return staging_.data();
}

SliceStats SliceRunner::run(const File& file, Direction direction, std::byte* buf, std::uint64_t offset,
                            std::uint64_t length, const std::atomic<bool>* cancel, Device* device,
                            const Fence* after, const GdsFile* gds) {
  SliceStats stats;
  if (length == 0) return stats;
  if (broken_) {  // an earlier failure left the backend unusable: start a fresh one
    backend_.reset();
    backend_ = make_backend(config_, &fallback_note_);
    broken_ = false;
  }
  PlanInput in;
  in.offset = offset;
  in.length = length;
  in.address = reinterpret_cast<std::uintptr_t>(buf);
  in.block_size = config_.block_size;
  in.direct = file.direct();
  in.edge_align = file.edge_align();
  in.mem_align = file.mem_align();
  in.device_memory = device != nullptr;
  in.stage_memory = device == nullptr && stage_host_memory(config_.staging, file, buf, length);
  const Plan plan = make_plan(in);
  if (device == nullptr) gds = nullptr;
  stats.staged = plan.staged && gds == nullptr;
  stats.direct_bytes = file.direct() ? plan.body_length() : 0;
  stats.latencies_ns.reserve(plan.requests() + 2);

  // The staging ring: the configured chunks, copied by this thread's stream on the device, or
  // for host memory by this runner's copy thread, while the other chunks' I/O runs.
  RingLayout layout;
  std::byte* ring_base = nullptr;
  DeviceStream* copier = nullptr;
  std::size_t bounce_bytes = 0;
  // With GDS only the unaligned edges go through staging: none, no ring and no stream.
  const bool has_edges = plan.head_length() > 0 || plan.tail_length() > 0;
  if (plan.staged && (gds != nullptr ? has_edges : device != nullptr || plan.requests() > 0)) {
    layout = make_ring_layout(plan.block_size, file.mem_align(), config_.device_chunk_size, config_.device_chunks);
    std::uint64_t bytes = layout.bytes();
    if (device != nullptr) {
      // A small slice needs no more ring than it has requests; the edges bounce through it too
      // (with GDS only they do).
      const std::uint64_t requests = gds != nullptr ? 0 : plan.requests();
      if (requests > 0) {
        layout.per_chunk = std::min(layout.per_chunk, requests);
        layout.chunks = static_cast<unsigned>(
            std::min<std::uint64_t>(layout.chunks, (requests + layout.per_chunk - 1) / layout.per_chunk));
      }
      const std::uint64_t edges = std::max(plan.head_length(), plan.tail_length());
      bytes = std::min(bytes, std::max(requests > 0 ? layout.bytes() : 0, edges));
      copier = &stream_for(*device);
      if (after != nullptr) copier->order_after(*after);
    } else {
      if (!host_copy_) host_copy_ = make_host_copy_stream();
      copier = host_copy_.get();
    }
    ring_base = staging(static_cast<std::size_t>(bytes), device);
    if (device != nullptr) bytes = lease_.size();
    bounce_bytes = static_cast<std::size_t>(bytes);
  }
  const auto edge = [&](std::byte* mem, std::uint64_t off, std::uint64_t len) {
    if (len == 0) return;
    if (device != nullptr) {
      move_device_edge(file, direction, *copier, ring_base, bounce_bytes, mem, off, len, stats);
    } else {
      move_edge(file, direction, mem, off, len, stats);
    }
  };

  // Head first, then the body through the backend, then the tail.
  edge(buf, offset, plan.head_length());
  if (plan.requests() > 0 && gds != nullptr) {
    gds_move(*gds, direction, *device, buf + (plan.body_begin - offset), plan.body_begin, plan.body_length(),
             file.name(), after, stats);
  } else if (plan.requests() > 0) {
    Attachment attached{*backend_};
    if (config_.register_files) backend_->attach_file(file.fd());
    if (config_.register_buffers) {
      attached.buffers = plan.staged
          ? backend_->register_buffer(ring_base, static_cast<std::size_t>(layout.bytes()))
          : backend_->register_buffer(buf + (plan.body_begin - offset), plan.body_length());
    }
    std::optional<StagingRing> ring;
    if (plan.staged) ring.emplace(direction, plan, layout, ring_base, buf, *copier, file.name());
    RequestWindow window(*backend_, config_, file, direction, buf, plan, ring ? &*ring : nullptr, cancel, stats);
    if (!window.run()) broken_ = true;  // replaced before the next slice, in this same thread
    if (window.error()) std::rethrow_exception(window.error());
  }
  edge(buf + (plan.body_end - offset), plan.body_end, plan.tail_length());
  return stats;
}

}  // namespace swapio::detail
