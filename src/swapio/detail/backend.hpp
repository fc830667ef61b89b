// The backend seam: queue requests, submit them, reap completions. A backend knows nothing
// of slices, schedules or retries; the transfer layer does all of that on top of it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "swapio/config.hpp"

namespace swapio::detail {

struct Request {
  int fd = -1;
  void* buf = nullptr;
  std::uint32_t len = 0;
  std::uint64_t offset = 0;
  bool write = false;
  std::uint32_t tag = 0;  // returned in the completion
};

struct Completion {
  std::uint32_t tag = 0;
  std::int64_t res = 0;  // bytes moved, or -errno
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const noexcept = 0;
  // Most requests this backend can hold queued plus in flight.
  virtual unsigned capacity() const noexcept = 0;

  // Queue one request (not yet visible to the kernel).
  virtual void prepare(const Request& r) = 0;
  // Hand every queued request to the kernel. Throws swapio::Error.
  virtual void submit() = 0;
  // Waits for at least min_wait completions (0: only what is ready) and writes up to
  // out.size() of them; returns how many. Throws swapio::Error.
  virtual std::size_t reap(std::span<Completion> out, std::size_t min_wait) = 0;

  // After an error: submit what is queued and wait for everything in flight, discarding the
  // completions. Returns false when that failed, so that requests may still be in flight and
  // the backend must not be used again. Never throws.
  virtual bool drain() noexcept = 0;

  // Optional: let requests on fd use a registered file slot. Returns whether it did.
  virtual bool attach_file(int /*fd*/) { return false; }
  virtual void detach_file() noexcept {}
  // Optional: register [base, base+len) so that requests inside it use fixed buffers.
  virtual bool register_buffer(void* /*base*/, std::size_t /*len*/) { return false; }
  virtual void unregister_buffer() noexcept {}
  // What the backend degraded at setup, for reports ("" when nothing).
  virtual std::string notes() const { return {}; }
};

// Creates the backend the config asks for. Engine::automatic tries io_uring, then native AIO,
// then psync, writing why into *fallback_note. Throws swapio::Error when a named engine cannot start.
std::unique_ptr<Backend> make_backend(const Config& config, std::string* fallback_note);

std::unique_ptr<Backend> make_psync_backend(unsigned queue_depth);
// Wraps a backend so that `faults` decides what happens to each request (swapio/fault.hpp).
std::unique_ptr<Backend> make_fault_backend(std::unique_ptr<Backend> inner, std::shared_ptr<FaultInjector> faults);
// Throws swapio::Error when a native AIO context cannot be set up.
std::unique_ptr<Backend> make_aio_backend(unsigned queue_depth);
// Throws swapio::Error when io_uring cannot be set up.
std::unique_ptr<Backend> make_uring_backend(unsigned queue_depth, bool register_files);

}  // namespace swapio::detail
