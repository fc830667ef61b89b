// A rank's buffers, files, ceilings and validation (the schedules are in step_schedules.cpp).
#include "step/step_rank.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>

#include "common/knob_options.hpp"
#include "step/step_files.hpp"
#include "swapio/error.hpp"
#include "swapio/file.hpp"

namespace swapio::cli {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint64_t kBlock = 4096;         // validation's granularity
constexpr std::uint64_t kReadPiece = 4u << 20;  // what validation reads at a time

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::uint32_t crc_of(const std::byte* p, std::uint64_t n) {
  return static_cast<std::uint32_t>(::crc32_z(0, reinterpret_cast<const Bytef*>(p), static_cast<z_size_t>(n)));
}

}  // namespace

nlohmann::json RankSpec::to_json() const {
  return {{"params", shape.params}, {"world_size", shape.world_size}, {"sub_group_size", shape.sub_group_size},
          {"optimizer", shape.optimizer}, {"swap_grads", shape.swap_grads}, {"rank", rank}, {"folders", folders},
          {"ds_config", knobs_to_json(ds_config)}, {"swapio_config", knobs_to_json(swapio_config)},
          {"prefetch", prefetch}, {"write_behind", write_behind}, {"slots", slots},
          {"compute", {{"kind", static_cast<int>(compute.kind)}, {"gib_per_s", compute.gib_per_s}, {"threads", compute.threads}}},
          {"validate", validate}, {"ceiling_bytes", ceiling_bytes}};
}

RankSpec RankSpec::from_json(const nlohmann::json& j) {
  RankSpec s;
  s.ds_config = config_from_json(j.at("ds_config"));
  s.swapio_config = config_from_json(j.at("swapio_config"));
  s.shape.params = j.at("params");
  s.shape.world_size = j.at("world_size");
  s.shape.sub_group_size = j.at("sub_group_size");
  s.shape.optimizer = j.at("optimizer");
  s.shape.swap_grads = j.at("swap_grads");
  s.shape.block_size = s.ds_config.block_size;
  s.shape.intra_op_parallelism = s.ds_config.intra_op_parallelism;
  s.rank = j.at("rank");
  s.folders = j.at("folders").get<std::vector<std::string>>();
  s.prefetch = j.at("prefetch");
  s.write_behind = j.at("write_behind");
  s.slots = j.at("slots");
  s.compute.kind = static_cast<ComputeSpec::Kind>(j.at("compute").at("kind").get<int>());
  s.compute.gib_per_s = j.at("compute").at("gib_per_s");
  s.compute.threads = j.at("compute").at("threads");
  s.validate = j.at("validate");
  s.ceiling_bytes = j.at("ceiling_bytes");
  return s;
}

unsigned slots_needed(Schedule s, unsigned prefetch, unsigned write_behind) noexcept {
  switch (s) {
    case Schedule::partitioned: return 1;
    case Schedule::pipelined: return 3;
    case Schedule::swapio: return 1 + prefetch + write_behind;
  }
  return 1;
}

nlohmann::json StepFigures::to_json() const {
  return {{"seconds", seconds}, {"gradient_seconds", gradient_seconds}, {"read_wait", read_wait},
          {"compute", compute}, {"write_wait", write_wait}, {"read_bytes", read_bytes}, {"write_bytes", write_bytes}};
}

RankEngine::RankEngine(const RankSpec& spec)
    : spec_(spec), model_(spec.shape), ceiling_files_(ceiling_files(spec.folders, spec.rank)) {
  if (model_.buffer_bytes() > 0) {
    for (unsigned i = 0; i < spec_.slots * model_.buffers_per_group(); ++i) {
      pool_.emplace_back(model_.buffer_bytes(), MemoryKind::pinned);
    }
  }
  ds_handles_.push_back(std::make_unique<Handle>(spec_.ds_config));
  ds_handles_.push_back(std::make_unique<Handle>(spec_.ds_config));
  for (std::size_t f = 0; f < spec_.folders.size(); ++f) {
    swapio_read_.push_back(std::make_unique<Handle>(spec_.swapio_config));
    swapio_write_.push_back(std::make_unique<Handle>(spec_.swapio_config));
  }
}

RankEngine::~RankEngine() = default;

float* RankEngine::buffer(unsigned slot, unsigned k) noexcept {
  return reinterpret_cast<float*>(pool_[slot * model_.buffers_per_group() + k].data());
}

std::string RankEngine::path(Schedule s, const SubGroup& g, unsigned t) const {
  return step_file_path(model_, spec_.folders, spec_.rank, s, g, t);
}

void RankEngine::record(const std::string& path, const float* data, std::uint64_t bytes) {
  const auto* p = reinterpret_cast<const std::byte*>(data);
  Recorded& r = checksums_[path];
  r.size = bytes;
  r.crcs.clear();
  for (std::uint64_t at = 0; at < bytes; at += kBlock) r.crcs.push_back(crc_of(p + at, std::min(kBlock, bytes - at)));
}

// A sequential stream of one ceiling measurement: a handle, its file, a direction.
struct Lane {
  Handle* handle;
  std::string file;
  Direction direction;
};

// Moves `bytes` along every lane at once, a piece (one pool buffer) on each lane in turn, with as
// many pieces in flight as the pool has buffers; returns the seconds.
static double stream(const std::vector<Lane>& lanes, std::vector<HostBuffer>& pool, std::uint64_t bytes) {
  const auto t0 = Clock::now();
  std::deque<std::pair<Handle*, Handle::OpId>> window;
  const std::uint64_t piece = pool.front().size();
  std::size_t next = 0;
  for (std::uint64_t at = 0; at < bytes; at += piece) {
    for (const Lane& lane : lanes) {
      if (window.size() == pool.size()) {
        (void)window.front().first->wait(window.front().second);
        window.pop_front();
      }
      HostBuffer& b = pool[next++ % pool.size()];
      const std::uint64_t n = std::min(piece, bytes - at);
      window.emplace_back(lane.handle, lane.handle->async_transfer(lane.direction, b.span().first(n), lane.file, at));
    }
  }
  for (auto& [h, id] : window) (void)h->wait(id);
  return since(t0);
}

// The ceilings after the first writes measure overwrites, as a steady step's writes are: the
// scratch files must be whole when they start (a fresh file measures the filesystem's extent
// conversion instead).
static void require_whole(const std::vector<Lane>& lanes, std::uint64_t bytes) {
  for (const Lane& l : lanes) {
    struct stat st {};
    if (l.direction == Direction::write && (::stat(l.file.c_str(), &st) != 0 || static_cast<std::uint64_t>(st.st_size) < bytes)) {
      throw std::runtime_error("the ceiling's scratch file " + l.file + " is gone or short: a write ceiling measures overwrites");
    }
  }
}

// The lanes of a measurement, in every folder: the first scratch file written (write), read
// (read), or read while the second is written (duplex); both written (prepare).
std::vector<Lane> RankEngine::lanes(Measure m) {
  std::vector<Lane> out;
  for (std::size_t f = 0; f < spec_.folders.size(); ++f) {
    const std::string& first = ceiling_files_[2 * f];
    const std::string& second = ceiling_files_[2 * f + 1];
    if (m != Measure::read) out.push_back({swapio_write_[f].get(), m == Measure::duplex ? second : first, Direction::write});
    if (m == Measure::prepare) out.push_back({swapio_write_[f].get(), second, Direction::write});
    if (m == Measure::read || m == Measure::duplex) out.push_back({swapio_read_[f].get(), first, Direction::read});
  }
  return out;
}

double RankEngine::measure(Measure m) {
  if (pool_.empty()) return 0;  // nothing swapped: the run is refused before it gets here
  const std::vector<Lane> l = lanes(m);
  if (m == Measure::prepare) {
    for (HostBuffer& b : pool_) std::memset(b.data(), 0x5a, b.size());
  } else {
    require_whole(l, spec_.ceiling_bytes);
  }
  return stream(l, pool_, spec_.ceiling_bytes);
}

void RankEngine::ceiling_remove() { (void)unlink_files(ceiling_files_); }

void RankEngine::begin(Schedule s) {
  (void)unlink_files(tensor_files(model_, spec_.folders, spec_.rank));  // the previous schedule's; not the ceiling's
  checksums_.clear();
  Handle& h = s == Schedule::swapio ? *swapio_write_.front() : *ds_handles_[1];
  for (const SubGroup& g : model_.groups()) {
    float* p = buffer(0, 0);
    fill_parameters(p, g.numel, g.index + 1, spec_.compute.threads);
    std::memset(p + g.numel, 0, (g.aligned_numel - g.numel) * StepModel::kElementBytes);
    const auto bytes = static_cast<std::size_t>(g.aligned_numel * StepModel::kElementBytes);
    (void)h.pwrite(std::span<const std::byte>(reinterpret_cast<const std::byte*>(p), bytes), path(s, g, 0));
  }
}

nlohmann::json RankEngine::validate() {
  std::uint64_t bytes = 0;
  std::vector<std::byte> piece(kReadPiece);
  for (const auto& [file, recorded] : checksums_) {
    const FileDescriptor fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) throw_io_error(errno, "open for validation", file);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw_io_error(errno, "fstat", file);
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size != recorded.size) {
      throw ValidationError("validation: " + file + " holds " + std::to_string(size) + " bytes, not the " +
                                std::to_string(recorded.size) + " the last step wrote",
                            std::min(size, recorded.size), 0);
    }
    for (std::uint64_t at = 0; at < size; at += kReadPiece) {
      const std::uint64_t got = std::min(kReadPiece, size - at);
      pread_exact(fd.get(), piece.data(), got, at, file);
      for (std::uint64_t off = 0; off < got; off += kBlock) {
        const std::uint64_t n = std::min(kBlock, got - off);
        if (crc_of(piece.data() + off, n) != recorded.crcs[(at + off) / kBlock]) {
          throw ValidationError("validation: " + file + ": the " + std::to_string(n) + " bytes at offset " +
                                    std::to_string(at + off) + " differ from what the last step wrote there",
                                at + off, 0);
        }
      }
    }
    bytes += size;
  }
  return {{"files", checksums_.size()}, {"bytes", bytes}};
}

}  // namespace swapio::cli
