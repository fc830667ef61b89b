// The emulated devices' memory: device allocations (a PROT_NONE address range handed out, the
// bytes in a host buffer at the same offset) and the host ranges registered for DMA.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "swapio/buffer.hpp"
#include "swapio/device.hpp"

namespace swapio::detail {

class EmulatedMemory {
 public:
  explicit EmulatedMemory(int device_count) : allocated_(static_cast<std::size_t>(device_count), 0) {}
  // Unmaps every allocation still held.
  ~EmulatedMemory();
  EmulatedMemory(const EmulatedMemory&) = delete;
  EmulatedMemory& operator=(const EmulatedMemory&) = delete;

  // A new allocation of device `ordinal` (`device_name` names it when the address range cannot
  // be reserved).
  void* allocate(int ordinal, std::size_t bytes, const std::string& device_name);
  // The device whose allocation starts at `data`, or -1 when none does.
  int owner(const void* data) const;
  // Unmaps the allocation that starts at `data` (nothing when none does).
  void release(const void* data) noexcept;

  // Throws ConfigError when the range is already registered.
  void register_host(const void* host, std::size_t bytes);
  void unregister_host(const void* host) noexcept;
  bool registered(const void* host, std::size_t bytes) const;

  // The host bytes behind [device, device+bytes), which must lie inside one allocation; null
  // otherwise. `keep` (when not null) receives the backing, to hold it while a copy uses it.
  std::byte* find(const void* device, std::size_t bytes, std::shared_ptr<HostBuffer>* keep) const;
  PointerInfo pointer_info(const void* address) const;

  std::size_t allocated(int ordinal) const;
  std::size_t registered_bytes() const;
  std::uint64_t registrations() const { return registrations_.load(); }

 private:
  struct Allocation {
    int ordinal = 0;
    std::byte* device = nullptr;          // PROT_NONE: the address handed out
    std::shared_ptr<HostBuffer> backing;  // where the bytes live
    std::size_t bytes = 0;
    std::size_t mapped = 0;
  };

  // With mutex_ held.
  std::map<std::uintptr_t, Allocation>::const_iterator allocation_holding(const void* device, std::size_t bytes) const;
  bool registered_locked(const void* host, std::size_t bytes) const;

  mutable std::mutex mutex_;
  std::map<std::uintptr_t, Allocation> allocations_;
  std::vector<std::size_t> allocated_;                // bytes per device
  std::map<std::uintptr_t, std::size_t> registered_;  // host ranges registered for DMA
  std::size_t registered_bytes_ = 0;
  std::atomic<std::uint64_t> registrations_{0};
};

}  // namespace swapio::detail
