// The host emulation of CUDA's driver (driver.hpp): CUDA's checks and error names over the
// emulated memory (emulated_memory.hpp) and streams (emulated_streams.hpp), and the controls
// EmulatedDevice exposes.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "swapio/detail/driver.hpp"
#include "swapio/detail/emulated_memory.hpp"
#include "swapio/detail/emulated_streams.hpp"

namespace swapio::detail {

class EmulatedDriver final : public Driver {
 public:
  EmulatedDriver(int count, const EmulatedDeviceOptions& options);
  ~EmulatedDriver() override;

  // The calling thread's current device, one per thread for every emulated driver of the
  // process (as CUDA's runtime has one).
  static int current_ordinal() noexcept;
  static void make_current(int ordinal) noexcept;

  // --- the driver seam ---

  std::string device_name(int ordinal) const override;
  int device_count(std::string*) override { return count_; }
  int current_device() override { return current_ordinal(); }
  void set_current_device(int ordinal) override;

  void* allocate(std::size_t bytes) override;
  void free(void* data) noexcept override;
  void register_host(void* host, std::size_t bytes) override;
  void unregister_host(void* host) noexcept override { memory_.unregister_host(host); }

  Stream create_stream() override;
  void destroy_stream(Stream stream) noexcept override { streams_.destroy(stream); }
  void copy_async(void* dst, const void* src, std::size_t bytes, bool to_device, Stream stream) override;
  Event create_event(bool blocking_sync) override;
  void destroy_event(Event event) noexcept override { EmulatedStreams::destroy_event(event); }
  void record(Event event, Stream stream) override;
  bool query(Event event) override { return EmulatedStreams::query(event); }
  void synchronize(Event event) override { streams_.synchronize(event); }
  void stream_wait(Stream stream, Event event) override;
  void synchronize_stream(Stream stream) noexcept override;

  PointerInfo pointer_info(const void* address) override { return memory_.pointer_info(address); }
  std::string lost(int ordinal) const override;

  // --- EmulatedDevice's controls ---

  CopyQueue& dma(int ordinal) { return streams_.dma(ordinal); }
  std::size_t allocated(int ordinal) const { return memory_.allocated(ordinal); }
  std::size_t registered_bytes() const { return memory_.registered_bytes(); }
  // The host bytes behind [device, device+bytes) of one allocation, null otherwise (for a
  // stand-in cuFile, which moves them as GPUDirect Storage would).
  std::byte* host_bytes(const void* device, std::size_t bytes) const { return memory_.find(device, bytes, nullptr); }
  EmulatedDevice::DriverCounters counters() const;
  void* create_caller_stream(int ordinal, bool blocking) { return streams_.create_caller(ordinal, blocking); }
  void launch_write(int ordinal, void* stream, const DeviceSpan& dst, std::vector<std::byte> bytes,
                    std::uint32_t delay_us);
  void synchronize_caller(int ordinal, void* stream);
  void lose(int ordinal, const std::string& why);

  // The device objects, to answer which one holds an address.
  std::vector<std::weak_ptr<Device>> device_objects;

 private:
  [[noreturn]] void fail(int ordinal, const char* op, const std::string& why) const;
  // The current device, checked as a call that acts on it: it must exist and work.
  int current(const char* op) const;
  // The stream a call names, which must belong to the current device (`same_device`) as CUDA
  // wants for copies and records.
  EmuStream& resolve(Stream stream, const char* op, bool same_device = true);
  // A caller's stream of device `ordinal` (null: its legacy default); ConfigError otherwise.
  EmuStream& caller_stream(int ordinal, void* stream);
  // The host bytes behind [device, device+bytes); EFAULT unless they lie inside one allocation.
  std::byte* translate(const void* device, std::size_t bytes, const char* what, std::shared_ptr<HostBuffer>* keep) const;

  const int count_;
  const bool names_single_;
  // Declared before streams_: destroyed after it, so no queued copy outlives the mappings.
  EmulatedMemory memory_;
  EmulatedStreams streams_;
  mutable std::mutex lost_mutex_;
  std::vector<std::string> lost_;  // per device: its sticky error, "" while it works
  std::atomic<std::uint64_t> pageable_copies_{0};
};

}  // namespace swapio::detail
