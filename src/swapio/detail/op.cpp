#include "swapio/detail/op.hpp"

#include <cerrno>

#include "swapio/error.hpp"
#include "swapio/validate.hpp"

namespace swapio::detail {

PreparedOp prepare_op(const Config& config, bool write, const std::byte* buf, std::uint64_t length,
                      const std::string& path, std::uint64_t offset, bool validate, Device* device) {
  config.validate();
  if (buf == nullptr && length != 0) {
    throw ConfigError("buffer is null but its length is " + std::to_string(length));
  }
  if (path.empty()) throw ConfigError("path is empty");
  if (offset > static_cast<std::uint64_t>(INT64_MAX) || length > static_cast<std::uint64_t>(INT64_MAX) - offset) {
    throw ConfigError("offset " + std::to_string(offset) + " + length " + std::to_string(length) +
                      " is beyond the largest file offset");
  }
  PreparedOp op(File::open(path, write ? Access::write : Access::read, config.direct));
  op.started = std::chrono::steady_clock::now();
  op.write = write;
  op.buf = const_cast<std::byte*>(buf);  // writes only read from it
  op.device = device;
  op.offset = offset;
  op.length = length;
  op.validate = validate;
  check_block_alignment(config, op.file);
  if (!write) {
    const std::uint64_t size = op.file.size();
    if (offset + length > size) {
      throw_io_error(ENODATA, "read", path, offset, length,
                     "past end of file: the file is " + std::to_string(size) + " bytes");
    }
  } else {
    op.preallocated = op.file.preallocate(offset, length);
  }
  const std::uint64_t unit = op.file.direct() ? op.file.edge_align() : 4096;
  op.slices = split_slices(offset, length, config.intra_op_parallelism, unit);
  return op;
}

Device* device_of(const DeviceSpan& span) {
  if (span.device == nullptr && span.size != 0) {
    throw ConfigError("device span of " + std::to_string(span.size) + " bytes names no device");
  }
  return span.device;
}

OpResult finish_op(const PreparedOp& op, std::vector<SliceStats>& slices, const std::string& engine,
                   const std::string& engine_note) {
  OpResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - op.started).count();
  r.write = op.write;
  r.path = op.file.path();
  r.offset = op.offset;
  r.engine = engine;
  r.engine_note = engine_note;
  if (op.device != nullptr) r.device = op.device->name();
  r.direct = op.file.direct();
  r.direct_note = op.file.direct_note();
  r.preallocated = op.preallocated;
  r.threads = static_cast<unsigned>(op.slices.size());
  std::size_t lat = 0;
  for (const SliceStats& s : slices) lat += s.latencies_ns.size();
  r.latencies_ns.reserve(lat);
  std::uint64_t submit_ns = 0, reap_ns = 0;
  for (SliceStats& s : slices) {
    r.bytes += s.bytes;
    r.requests += s.requests;
    r.resubmits += s.resubmits;
    r.staged = r.staged || s.staged;
    submit_ns += s.submit_ns;
    reap_ns += s.reap_ns;
    r.latencies_ns.insert(r.latencies_ns.end(), s.latencies_ns.begin(), s.latencies_ns.end());
  }
  r.submit_seconds = static_cast<double>(submit_ns) / 1e9;
  r.reap_seconds = static_cast<double>(reap_ns) / 1e9;
  if (r.bytes != op.length) {
    throw_io_error(EIO, op.write ? "write" : "read", r.path, op.offset, op.length,
                   "moved " + std::to_string(r.bytes) + " bytes");
  }
  if (op.validate && op.device != nullptr) {
    validate_file_range(DeviceSpan{op.device, op.buf, static_cast<std::size_t>(op.length)}, r.path, op.offset);
    r.validated = true;
  } else if (op.validate) {
    validate_file_range({op.buf, static_cast<std::size_t>(op.length)}, r.path, op.offset);
    r.validated = true;
  }
  return r;
}

}  // namespace swapio::detail
