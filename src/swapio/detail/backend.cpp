#include "swapio/detail/backend.hpp"

#include "swapio/error.hpp"

namespace swapio::detail {

namespace {

std::unique_ptr<Backend> make_real_backend(const Config& config, std::string* fallback_note) {
  switch (config.engine) {
    case Engine::psync:
      return make_psync_backend(config.queue_depth);
    case Engine::uring:
      return make_uring_backend(config.queue_depth, config.register_files);
    case Engine::aio:
      return make_aio_backend(config.queue_depth);
    case Engine::automatic: {
      std::string why;
      try {
        return make_uring_backend(config.queue_depth, config.register_files);
      } catch (const Error& e) {
        why = std::string("io_uring unavailable (") + e.what() + ")";
      }
      try {
        auto b = make_aio_backend(config.queue_depth);
        if (fallback_note != nullptr) *fallback_note = why + ": aio";
        return b;
      } catch (const Error& e) {
        why += std::string(", native AIO unavailable (") + e.what() + ")";
      }
      if (fallback_note != nullptr) *fallback_note = why + ": psync";
      return make_psync_backend(config.queue_depth);
    }
  }
  throw ConfigError("engine value is out of range");
}

}  // namespace

std::unique_ptr<Backend> make_backend(const Config& config, std::string* fallback_note) {
  auto backend = make_real_backend(config, fallback_note);
  if (config.faults) return make_fault_backend(std::move(backend), config.faults);
  return backend;
}

}  // namespace swapio::detail
