#include "swapio/detail/op.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "swapio/detail/checks.hpp"
#include "swapio/error.hpp"
#include "swapio/validate.hpp"

namespace swapio::detail {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Merges the slices' figures into the op's result.
OpResult merge_figures(const PreparedOp& op, std::vector<SliceStats>& slices, const std::string& engine,
                       const std::string& engine_note) {
  OpResult r;
  r.seconds = seconds_since(op.started);
  r.write = op.direction == Direction::write;
  r.path = op.file.name();
  r.offset = op.offset;
  r.engine = engine;
  r.engine_note = engine_note;
  if (op.tensor.device() != nullptr) r.device = op.tensor.device()->name();
  r.gds = op.gds != nullptr;
  r.gds_note = op.gds_note;
  for (const SliceStats& s : slices) {  // the same for every slice of an op: said once
    if (!s.note.empty() && r.gds_note.find(s.note) == std::string::npos) {
      r.gds_note += (r.gds_note.empty() ? "" : "; ") + s.note;
    }
  }
  // O_DIRECT counts only where some bytes moved with it: a range that lies wholly in the buffered
  // edges (a 4095-byte file) went through the page cache. An empty op reports how the file was
  // opened.
  std::uint64_t direct_bytes = 0;
  for (const SliceStats& s : slices) direct_bytes += s.direct_bytes;
  r.direct = op.file.direct() && (direct_bytes > 0 || op.length() == 0);
  r.direct_note = op.file.direct_note();
  if (op.file.direct() && !r.direct) {
    r.direct_note = "the whole range lies in the buffered edges (shorter than, or not reaching, a direct-I/O aligned block)";
  }
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
  return r;
}

// After every slice succeeded: the figures, then what makes the bytes count (all there, still at
// the path, synced, validated, renamed into place). Throws swapio::Error or ValidationError.
OpResult finish_op(PreparedOp& op, std::vector<SliceStats>& slices, const std::string& engine,
                   const std::string& engine_note) {
  OpResult r = merge_figures(op, slices, engine, engine_note);
  if (r.bytes != op.length()) {
    throw_io_error(EIO, to_string(op.direction), r.path, op.offset, op.length(), "moved " + std::to_string(r.bytes) + " bytes");
  }
  const bool write = op.direction == Direction::write;
  if (write && op.temp.empty()) check_still_linked(op.file, op.offset, op.length());
  if (op.sync) {
    if (::fdatasync(op.file.fd()) != 0) throw_io_error(errno, "fdatasync", op.file.name());
    if (op.created) sync_folder(folder_of(op.file.name()), "the new file's name may not survive a crash");
    r.synced = true;
    r.seconds = seconds_since(op.started);
  }
  if (op.validate) {
    // Validation reads what was written (the temporary, before it replaces anything).
    if (op.file.descriptor() >= 0) {
      // The caller's descriptor may be closed by now: read through this op's own.
      validate_tensor(op.tensor, "/proc/self/fd/" + std::to_string(op.file.edge_fd()), op.offset, op.file.name());
    } else {
      validate_tensor(op.tensor, op.file.path(), op.offset);
    }
    r.validated = true;
  }
  if (!op.temp.empty()) {
    op.temp.commit(op.file.fd(), op.target);
    r.replaced = true;
  }
  return r;
}

}  // namespace

namespace {

// prepare_op past the open: the op's fields, the range checked, a write's range preallocated,
// the slices. Throws ConfigError or swapio::Error.
void fill_op(PreparedOp& op, const Config& config, Direction direction, TensorSpan tensor, std::uint64_t offset,
             bool validate) {
  const bool write = direction == Direction::write;
  op.created = op.temp.empty() && op.file.created();
  op.sync = write && (config.sync || config.atomic_replace);
  op.started = std::chrono::steady_clock::now();
  op.direction = direction;
  op.tensor = tensor;
  op.offset = offset;
  op.validate = validate;
  check_block_alignment(config, op.file);
  if (!write) {
    const std::uint64_t size = op.file.size();
    if (offset + tensor.size() > size) {
      throw_io_error(ENODATA, "read", op.file.name(), offset, tensor.size(),
                     "past end of file: the file is " + std::to_string(size) + " bytes");
    }
  } else {
    op.preallocated = op.file.preallocate(offset, tensor.size());
  }
  const std::uint64_t unit = op.file.direct() ? op.file.edge_align() : 4096;
  op.slices = split_slices(offset, tensor.size(), config.intra_op_parallelism, unit);
  if (tensor.on_device() && tensor.size() != 0) {
    GdsChoice gds = choose_gds(config, op.file, *tensor.device());
    op.gds = std::move(gds.file);
    op.gds_note = std::move(gds.note);
    op.fence = tensor.device()->fence(tensor.stream());
  }
}

}  // namespace

PreparedOp prepare_op(const Config& config, Direction direction, TensorSpan tensor, const std::string& path,
                      std::uint64_t offset, bool validate) {
  check_tensor(direction, tensor, offset);
  if (path.empty()) throw ConfigError("path is empty");
  check_path(path);
  const bool write = direction == Direction::write;
  TempFile temp;
  std::string target = path;
  if (write && config.atomic_replace) {
    if (offset != 0) {
      throw ConfigError("atomic_replace writes a whole file: offset must be 0, not " + std::to_string(offset));
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
      throw_io_error(S_ISDIR(st.st_mode) ? EISDIR : EINVAL, "open for writing", path, 0, 0,
                     S_ISDIR(st.st_mode) ? "a directory, not a regular file" : "not a regular file");
    }
    target = replacement_target(path);
    temp = create_temp_beside(target);
  }
  // Errors name the caller's path, also while a temporary is written in its place.
  PreparedOp op(temp.empty() ? File::open(path, write ? Access::write : Access::read, config.direct)
                             : File::open(temp.path(), Access::write, config.direct, path));
  if (!temp.empty()) check_is_temp(op.file, temp);
  op.target = target;
  op.temp = std::move(temp);
  if (write && op.temp.empty()) op.claim = WriteClaim(op.file);
  try {
    fill_op(op, config, direction, tensor, offset, validate);
  } catch (...) {
    // A failed preallocation (ENOSPC) must not leave the file grown and the filesystem full.
    std::exception_ptr error = give_back(op.file, op.claim, std::current_exception());
    op.claim.release();
    std::rethrow_exception(error);
  }
  return op;
}

OpRun::OpRun(PreparedOp op) : op_(std::move(op)), stats_(op_.slices.size()), remaining_(op_.slices.size()) {}

void OpRun::run_slice(std::size_t i, SliceRunner& runner) noexcept {
  try {
    stats_[i] = runner.run(op_.file, op_.direction, op_.slice_memory(i), op_.slices[i].offset, op_.slices[i].length,
                           &cancel_, op_.tensor.device(), op_.fence.get(), op_.gds.get());
  } catch (...) {
    fail(std::current_exception());
  }
  end_slices(1, &runner);
}

void OpRun::fail_slice(std::exception_ptr error) noexcept {
  fail(std::move(error));
  end_slices(1, nullptr);
}

void OpRun::abandon(std::size_t count, std::exception_ptr error) noexcept {
  fail(std::move(error));
  if (count > 0) end_slices(count, nullptr);
}

void OpRun::complete_empty(const std::string& engine, const std::string& engine_note) noexcept {
  complete(nullptr, &engine, &engine_note);
}

void OpRun::fail(std::exception_ptr error) noexcept {
  std::lock_guard lock(mutex_);
  if (!error_) error_ = std::move(error);
  // Recorded before the flag is raised, so a slice that stops because of it never reports in its place.
  cancel_.store(true);
}

void OpRun::end_slices(std::size_t count, const SliceRunner* last) noexcept {
  {
    std::lock_guard lock(mutex_);
    remaining_ -= count;
    if (remaining_ > 0) return;
  }
  complete(last, nullptr, nullptr);
}

// The op's one ending: figures, sync, validation and replacement outside the lock; then, before
// anyone hears the op is done, no descriptor outlives it and a failed replacement leaves no
// temporary file behind.
// The engine reported is the last slice's runner's (every runner of an op has the same config),
// or the executor's for an op without slices; an op that failed reports none.
void OpRun::complete(const SliceRunner* last, const std::string* engine, const std::string* engine_note) noexcept {
  std::vector<std::function<void()>> callbacks;
  std::exception_ptr error;
  {
    std::lock_guard lock(mutex_);
    error = std::move(error_);
  }
  OpResult result;
  if (!error) {
    try {
      result = last != nullptr ? finish_op(op_, stats_, last->backend().name(), last->engine_note())
                               : finish_op(op_, stats_, engine ? *engine : std::string(), engine_note ? *engine_note : std::string());
    } catch (...) {
      error = std::current_exception();
    }
  }
  if (error) error = give_back(op_.file, op_.claim, std::move(error));
  op_.claim.release();
  op_.gds.reset();  // deregistered before its descriptor closes
  op_.file.close();
  if (error && !op_.temp.empty()) {
    // The error names the caller's path; it also says what was being written, and that it is gone.
    try {
      const std::string& path = op_.file.name();
      error = add_to_error(std::move(error),
                           "while writing its replacement " + std::filesystem::path(op_.temp.path()).filename().string() +
                               ", now removed: " + path +
                               (::access(op_.target.c_str(), F_OK) == 0 ? " keeps its old content" : " was not created"),
                           path);
    } catch (...) {
      // Out of memory for the longer message: the error as it was.
    }
    op_.temp = TempFile{};  // removed
  }
  {
    std::lock_guard lock(mutex_);
    error_ = std::move(error);  // moved, not copied: the error's last reference must be the caller's
    result_ = std::move(result);
    done_ = true;
    callbacks.swap(on_finish_);
  }
  cv_.notify_all();
  for (auto& callback : callbacks) callback();
}

void OpRun::on_finish(std::function<void()> callback) {
  {
    std::lock_guard lock(mutex_);
    if (!done_) {
      on_finish_.push_back(std::move(callback));
      return;
    }
  }
  callback();
}

void OpRun::wait() noexcept {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return done_; });
}

bool OpRun::finished() noexcept {
  std::lock_guard lock(mutex_);
  return done_;
}

std::exception_ptr OpRun::take_error() noexcept {
  std::lock_guard lock(mutex_);
  return std::move(error_);
}

OpResult OpRun::result() {
  wait();
  if (std::exception_ptr error = take_error()) std::rethrow_exception(error);
  return take_result();
}

void run_slices(const std::shared_ptr<OpRun>& op, SliceExecutor& executor) {
  if (op->slices() == 0) {
    const auto [engine, note] = executor.engine();
    op->complete_empty(engine, note);
    return;
  }
  std::size_t started = 0;
  try {
    for (; started < op->slices(); ++started) executor.start(op, started);
  } catch (...) {
    // The slices started still use the caller's memory: stop them and wait for them before the
    // error reaches the caller.
    op->abandon(op->slices() - started, std::current_exception());
    op->wait();
    (void)op->take_error();  // the error the caller gets is the one rethrown here
    throw;
  }
}

}  // namespace swapio::detail
