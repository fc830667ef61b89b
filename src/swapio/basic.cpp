#include "swapio/basic.hpp"

#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "swapio/detail/op.hpp"
#include "swapio/detail/transfer.hpp"

namespace swapio {
namespace {

OpResult run_once(const Config& config, bool write, const std::byte* buf, std::size_t length,
                  const std::string& path, std::uint64_t offset, bool validate, Device* device = nullptr) {
  detail::PreparedOp op = detail::prepare_op(config, write, buf, length, path, offset, validate, device);
  std::vector<detail::SliceStats> stats(op.slices.size());
  std::string engine, note;
  if (op.slices.size() <= 1) {
    detail::Worker worker(config);
    engine = worker.backend().name();
    note = worker.engine_note();
    if (!op.slices.empty()) {
      stats[0] = worker.run(op.file, write, detail::slice_memory(op, 0), op.slices[0].offset, op.slices[0].length,
                              nullptr, device);
    }
  } else {
    // Threads for this call only; each with its own ring. The first failure cancels the rest;
    // it is recorded before the cancel flag is raised, so a slice that stops because of it
    // never reports in its place.
    std::atomic<bool> cancel{false};
    std::mutex error_mutex;
    std::exception_ptr first;
    std::vector<std::string> engines(op.slices.size()), notes(op.slices.size());
    {
      std::vector<std::jthread> threads;
      threads.reserve(op.slices.size());
      for (std::size_t i = 0; i < op.slices.size(); ++i) {
        threads.emplace_back([&, i] {
          try {
            detail::Worker worker(config);
            engines[i] = worker.backend().name();
            notes[i] = worker.engine_note();
            stats[i] = worker.run(op.file, write, detail::slice_memory(op, i), op.slices[i].offset,
                                  op.slices[i].length, &cancel, device);
          } catch (...) {
            std::lock_guard lock(error_mutex);
            if (!first) first = std::current_exception();
            cancel.store(true);
          }
        });
      }
    }
    if (first) std::rethrow_exception(first);
    engine = engines[0];
    note = notes[0];
  }
  return detail::finish_op(op, stats, engine, note);
}

}  // namespace

OpResult read_file(std::span<std::byte> buffer, const std::string& path, const Config& config,
                   std::uint64_t offset, bool validate) {
  return run_once(config, false, buffer.data(), buffer.size(), path, offset, validate);
}

OpResult write_file(std::span<const std::byte> buffer, const std::string& path, const Config& config,
                    std::uint64_t offset, bool validate) {
  return run_once(config, true, buffer.data(), buffer.size(), path, offset, validate);
}

}  // namespace swapio

namespace swapio {

OpResult read_file(DeviceSpan buffer, const std::string& path, const Config& config, std::uint64_t offset,
                   bool validate) {
  return run_once(config, false, buffer.data, buffer.size, path, offset, validate, detail::device_of(buffer));
}

OpResult write_file(DeviceSpan buffer, const std::string& path, const Config& config, std::uint64_t offset,
                    bool validate) {
  return run_once(config, true, buffer.data, buffer.size, path, offset, validate, detail::device_of(buffer));
}

}  // namespace swapio
