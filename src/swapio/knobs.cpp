#include "swapio/knobs.hpp"

#include <array>
#include <charconv>
#include <type_traits>
#include <utility>

#include "swapio/error.hpp"

namespace swapio {
namespace {

template <auto M>
std::uint64_t number_of(const Config& c) {
  return static_cast<std::uint64_t>(c.*M);
}
template <auto M>
std::string size_of(const Config& c) {
  return size_text(c.*M);
}
template <auto M>
void set_size(Config& c, std::string_view t) {
  c.*M = parse_size(t);
}
template <auto M>
std::string count_of(const Config& c) {
  return std::to_string(c.*M);
}
template <auto M>
void set_count(Config& c, std::string_view t) {
  c.*M = static_cast<unsigned>(parse_count(t));
}
template <auto M>
std::string flag_of(const Config& c) {
  return c.*M ? "true" : "false";
}
template <auto M>
void set_flag(Config& c, std::string_view t) {
  if (t == "true" || t == "1" || t == "on") c.*M = true;
  else if (t == "false" || t == "0" || t == "off") c.*M = false;
  else throw ConfigError("'" + std::string(t) + "' is not true or false");
}
std::uint64_t no_number(const Config&) { return 0; }

// The entry of Config member M: its kind follows from the member's type (bytes are
// std::uint64_t, counts unsigned, flags bool).
template <auto M>
constexpr Knob field_knob(Knob k) {
  using T = std::remove_cvref_t<decltype(std::declval<Config&>().*M)>;
  k.number = &number_of<M>;
  if constexpr (std::is_same_v<T, bool>) {
    k.kind = KnobKind::flag;
    k.get = &flag_of<M>;
    k.set = &set_flag<M>;
    k.max = 1;
  } else if constexpr (std::is_same_v<T, std::uint64_t>) {
    k.kind = KnobKind::size;
    k.get = &size_of<M>;
    k.set = &set_size<M>;
  } else {
    static_assert(std::is_same_v<T, unsigned>);
    k.kind = KnobKind::count;
    k.get = &count_of<M>;
    k.set = &set_count<M>;
  }
  return k;
}
constexpr Knob choice_knob(Knob k) {
  k.kind = KnobKind::choice;
  k.number = &no_number;
  return k;
}

const std::array<Knob, 15> kKnobs = {{
    field_knob<&Config::block_size>({.name = "block_size", .key = "block_size", .flag = "--block-size",
                                    .alias = "--block_size", .deepspeed = true,
                                    .help = "bytes per I/O request (K/M/G suffixes, powers of 1024)",
                                    .min = 1, .max = kMaxBlockSize, .below = "is invalid: it must be at least 1 byte",
                                    .above = "is too large: at most 1073741824 (1 GiB) per request"}),
    field_knob<&Config::queue_depth>({.name = "queue_depth", .key = "queue_depth", .flag = "--queue-depth",
                                      .alias = "--queue_depth", .deepspeed = true,
                                      .help = "most requests in flight per ring", .min = 1, .max = kMaxQueueDepth,
                                      .below = "is invalid: at least 1 request must be in flight",
                                      .above = "is beyond what an io_uring ring allows (32768)"}),
    field_knob<&Config::single_submit>({.name = "single_submit", .key = "single_submit", .flag = "--single-submit",
                                       .alias = "--single_submit", .deepspeed = true,
                                       .help = "one submit call per request instead of one per batch"}),
    field_knob<&Config::overlap_events>(
        {.name = "overlap_events", .key = "overlap_events", .flag = "--overlap-events", .alias = "--overlap_events",
         .off_flag = "--sequential-requests", .off_alias = "--sequential_requests", .deepspeed = true,
         .help = "sliding window: refill as soon as any completion is reaped (swapio's default; the harness's default "
                 "was --sequential-requests)",
         .off_help = "lock-step windows: submit queue-depth requests, wait for all, repeat"}),
    field_knob<&Config::intra_op_parallelism>(
        {.name = "intra_op_parallelism", .key = "io_parallel", .flag = "--io-parallel", .alias = "--io_parallel",
         .deepspeed = true,
         .help = "threads per process; each op is split into one slice per thread (with the basic API, threads "
                 "started per call)",
         .min = 1, .max = kMaxParallelism, .below = "is invalid: a handle needs at least 1 thread",
         .above = "is too large: at most 1024 threads"}),
    choice_knob({.name = "engine", .key = "engine", .flag = "--engine",
                 .help = "auto (io_uring, else native AIO, else pread/pwrite) | uring | aio | psync",
                 .choices = "auto|uring|aio|psync",
                 .get = [](const Config& c) { return std::string(to_string(c.engine)); },
                 .set = [](Config& c, std::string_view t) { c.engine = parse_engine(t); }}),
    choice_knob({.name = "direct", .key = "direct", .flag = "--direct",
                 .help = "O_DIRECT: auto (where supported) | on (required) | off", .choices = "auto|on|off",
                 .get = [](const Config& c) { return std::string(to_string(c.direct)); },
                 .set = [](Config& c, std::string_view t) { c.direct = parse_direct_mode(t); }}),
    field_knob<&Config::register_files>({.name = "register_files", .key = "register_files", .flag = "--register-files",
                                         .off_flag = "--no-register-files",
                                         .help = "io_uring fixed files where the kernel allows (the default)",
                                         .off_help = "no io_uring fixed files"}),
    field_knob<&Config::register_buffers>({.name = "register_buffers", .key = "register_buffers",
                                           .flag = "--register-buffers",
                                           .help = "io_uring fixed buffers (pins memory: RLIMIT_MEMLOCK)"}),
    choice_knob({.name = "staging", .key = "staging", .flag = "--staging",
                 .help = "copy host memory through swapio's contiguous staging ring: auto (memory swapio did not "
                         "allocate) | always | never; not with --gpu (a GPU's bytes always go through the ring)",
                 .choices = "auto|always|never",
                 .get = [](const Config& c) { return std::string(to_string(c.staging)); },
                 .set = [](Config& c, std::string_view t) { c.staging = parse_stage_mode(t); }}),
    field_knob<&Config::device_chunk_size>(
        {.name = "device_chunk_size", .key = "device_chunk_size", .flag = "--device-chunk-size",
         .alias = "--device_chunk_size",
         .help = "with --gpu or --staging always: bytes per staging chunk, rounded up to whole blocks",
         .min = 1, .max = kMaxBlockSize, .below = "is invalid: it must be between 1 byte and 1 GiB",
         .above = "is invalid: it must be between 1 byte and 1 GiB"}),
    field_knob<&Config::device_chunks>(
        {.name = "device_chunks", .key = "device_chunks", .flag = "--device-chunks", .alias = "--device_chunks",
         .help = "with --gpu or --staging always: staging chunks per thread (pinned memory = chunks x chunk "
                 "size per thread)",
         .min = 2, .max = kMaxDeviceChunks, .below = "is invalid: between 2 (so that a copy overlaps the I/O) and 4096",
         .above = "is invalid: between 2 (so that a copy overlaps the I/O) and 4096"}),
    choice_knob({.name = "gds", .key = "gds", .flag = "--gds",
                 .help = "GPUDirect Storage for --gpu: auto (cuFile where it runs natively, else the staging ring, "
                         "saying why) | on (cuFile, also in compat mode; an error where it cannot run; --gds alone) "
                         "| off",
                 .choices = "auto|on|off", .bare = "on",
                 .get = [](const Config& c) { return std::string(to_string(c.gds)); },
                 .set = [](Config& c, std::string_view t) { c.gds = parse_gds_mode(t); }}),
    field_knob<&Config::sync>({.name = "sync", .key = "sync", .flag = "--sync",
                              .help = "fdatasync each written file before its write counts as done (timed with it)"}),
    field_knob<&Config::atomic_replace>(
        {.name = "atomic_replace", .key = "atomic_replace", .flag = "--atomic-replace", .alias = "--atomic_replace",
         .help = "write each file to a temporary beside it, sync it, then rename it over the file: a crash leaves the "
                 "old content or the new, never a mix"}),
}};

}  // namespace

void Knob::check(const Config& c) const {
  if (kind != KnobKind::size && kind != KnobKind::count) return;
  const std::uint64_t v = number(c);
  if (v < min) throw ConfigError(std::string(name) + " " + std::to_string(v) + " " + std::string(below));
  if (v > max) throw ConfigError(std::string(name) + " " + std::to_string(v) + " " + std::string(above));
}

std::span<const Knob> knobs() noexcept { return kKnobs; }

const Knob* find_knob(std::string_view word) noexcept {
  if (word.empty()) return nullptr;
  for (const Knob& k : kKnobs) {
    if (word == k.key || word == k.name || word == k.flag || word == k.alias) return &k;
  }
  return nullptr;
}

void Config::validate() const {
  for (const Knob& k : kKnobs) k.check(*this);
  // The one rule between knobs.
  if (direct == DirectMode::on && block_size % kMinDirectAlign != 0) {
    throw ConfigError("block_size " + std::to_string(block_size) +
                      " is not a multiple of the direct-I/O alignment (512 bytes at least) required by direct=on");
  }
}

std::uint64_t parse_count(std::string_view s, std::uint64_t max) {
  const std::string shown(s);
  if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos) {
    throw ConfigError("'" + shown + "' is not a whole decimal number");
  }
  if (s.size() > 1 && s.front() == '0') throw ConfigError("'" + shown + "' has a leading zero");
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v > max) {
    throw ConfigError("'" + shown + "' is too large (at most " + std::to_string(max) + ")");
  }
  return v;
}

std::string size_text(std::uint64_t bytes) {
  static constexpr std::array<char, 4> kSuffix = {'T', 'G', 'M', 'K'};
  for (std::size_t i = 0; i < kSuffix.size(); ++i) {
    const unsigned shift = 10 * static_cast<unsigned>(kSuffix.size() - i);
    if (bytes != 0 && bytes % (std::uint64_t{1} << shift) == 0) return std::to_string(bytes >> shift) + kSuffix[i];
  }
  return std::to_string(bytes);
}

}  // namespace swapio
