// Handle: a persistent engine with intra_op_parallelism worker threads, each with its own ring.
// Every op is split into contiguous slices, one per thread, for any size. Sync and async
// transfers; safe to call from several threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "swapio/config.hpp"
#include "swapio/device.hpp"
#include "swapio/result.hpp"
#include "swapio/tensor.hpp"

namespace swapio {

struct WaitResult {
  std::size_t completed = 0;        // ops that finished (successfully or not)
  std::vector<OpResult> results;    // the successful ones, in submission order
  std::exception_ptr first_error;   // the first failed op's error, in submission order
  std::string first_error_message;  // its what()

  bool ok() const noexcept { return first_error == nullptr; }
};

class Handle {
 public:
  using OpId = std::uint64_t;

  // Starts the worker threads and their rings. Throws ConfigError or swapio::Error (for
  // instance engine=uring where io_uring is refused).
  explicit Handle(const Config& config = {});
  // Waits for every op in flight, then stops the threads. Never throws.
  ~Handle();
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  // Synchronous: returns when done; throws ConfigError, swapio::Error or ValidationError. The
  // tensor and the range are as for swapio::transfer (basic.hpp).
  OpResult transfer(Direction direction, TensorSpan tensor, const std::string& path, std::uint64_t offset = 0,
                    bool validate = false);
  // Asynchronous: the tensor must stay alive and untouched (and its device alive) until wait()
  // returns. Bad arguments and a file that cannot be opened throw here; I/O errors are reported
  // by wait().
  OpId async_transfer(Direction direction, TensorSpan tensor, const std::string& path, std::uint64_t offset = 0,
                      bool validate = false);

  // Conveniences for the two directions, host or device memory.
  OpResult pread(std::span<std::byte> buffer, const std::string& path, std::uint64_t offset = 0, bool validate = false) {
    return transfer(Direction::read, buffer, path, offset, validate);
  }
  OpResult pwrite(std::span<const std::byte> buffer, const std::string& path, std::uint64_t offset = 0,
                  bool validate = false) {
    return transfer(Direction::write, buffer, path, offset, validate);
  }
  OpId async_pread(std::span<std::byte> buffer, const std::string& path, std::uint64_t offset = 0,
                   bool validate = false) {
    return async_transfer(Direction::read, buffer, path, offset, validate);
  }
  OpId async_pwrite(std::span<const std::byte> buffer, const std::string& path, std::uint64_t offset = 0,
                    bool validate = false) {
    return async_transfer(Direction::write, buffer, path, offset, validate);
  }
  OpResult pread(DeviceSpan buffer, const std::string& path, std::uint64_t offset = 0, bool validate = false) {
    return transfer(Direction::read, buffer, path, offset, validate);
  }
  OpResult pwrite(DeviceSpan buffer, const std::string& path, std::uint64_t offset = 0, bool validate = false) {
    return transfer(Direction::write, buffer, path, offset, validate);
  }
  OpId async_pread(DeviceSpan buffer, const std::string& path, std::uint64_t offset = 0, bool validate = false) {
    return async_transfer(Direction::read, buffer, path, offset, validate);
  }
  OpId async_pwrite(DeviceSpan buffer, const std::string& path, std::uint64_t offset = 0, bool validate = false) {
    return async_transfer(Direction::write, buffer, path, offset, validate);
  }

  // Blocks until every async op submitted so far (by any thread) has finished. Each op's result
  // (or error) is reported by exactly one call: with several threads waiting at once, a call may
  // report ops another thread submitted, but none returns before all of them are done.
  WaitResult wait();
  // Blocks until op `id` has finished; returns its result or throws its error. Throws
  // std::invalid_argument for an id that is unknown or already reported.
  OpResult wait(OpId id);
  // Whether op `id` has finished (successfully or not), without waiting: wait(id) would return
  // at once. Throws std::invalid_argument for an id that is unknown or already reported.
  bool done(OpId id) const;
  // Has callback run once when op `id` has finished: at once, in this thread, if it has; else on
  // the worker thread that ends it. It must neither throw nor block (wait(id) reports the op).
  // Throws std::invalid_argument for an id that is unknown or already reported.
  void notify(OpId id, std::function<void()> callback);

  const Config& config() const noexcept;
  // The engine the workers run ("uring", "aio" or "psync") and why, when auto fell back.
  const std::string& engine() const noexcept;
  const std::string& engine_note() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace swapio
