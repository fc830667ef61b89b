// The emulated devices' allocations and registered host ranges (see emulated_memory.hpp).
#include "swapio/detail/emulated_memory.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "swapio/error.hpp"

namespace swapio::detail {
namespace {

// The entry of `ranges` (start -> what has a length) whose range holds [addr, addr + bytes), or
// end().
template <typename Map, typename Length>
typename Map::const_iterator range_holding(const Map& ranges, std::uintptr_t addr, std::size_t bytes, Length length) {
  auto it = ranges.upper_bound(addr);
  if (it == ranges.begin()) return ranges.end();
  --it;
  const std::size_t n = length(it->second), off = addr - it->first;
  return off <= n && bytes <= n - off ? it : ranges.end();
}

}  // namespace

EmulatedMemory::~EmulatedMemory() {
  for (auto& [addr, a] : allocations_) ::munmap(a.device, a.mapped);
}

void* EmulatedMemory::allocate(int ordinal, std::size_t bytes, const std::string& device_name) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  Allocation a;
  a.ordinal = ordinal;
  a.bytes = bytes;
  a.mapped = bytes == 0 ? page : (bytes + page - 1) / page * page;
  // The backing is a host buffer like the staging's (huge pages, prefaulted): copies run at
  // memory speed, as a GPU's DMA would, instead of crawling over scattered 4 KiB pages.
  a.backing = std::make_shared<HostBuffer>(a.mapped);
  void* dev = ::mmap(nullptr, a.mapped, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (dev == MAP_FAILED) throw_io_error(errno, "mmap emulated device address range", device_name, 0, bytes);
  a.device = static_cast<std::byte*>(dev);
  std::lock_guard lock(mutex_);
  allocated_[ordinal] += bytes;
  allocations_.emplace(reinterpret_cast<std::uintptr_t>(dev), std::move(a));
  return dev;
}

int EmulatedMemory::owner(const void* data) const {
  std::lock_guard lock(mutex_);
  auto it = allocations_.find(reinterpret_cast<std::uintptr_t>(data));
  return it == allocations_.end() ? -1 : it->second.ordinal;
}

void EmulatedMemory::release(const void* data) noexcept {
  std::lock_guard lock(mutex_);
  auto it = allocations_.find(reinterpret_cast<std::uintptr_t>(data));
  if (it == allocations_.end()) return;
  allocated_[it->second.ordinal] -= it->second.bytes;
  ::munmap(it->second.device, it->second.mapped);
  allocations_.erase(it);
}

void EmulatedMemory::register_host(const void* host, std::size_t bytes) {
  std::lock_guard lock(mutex_);
  if (!registered_.emplace(reinterpret_cast<std::uintptr_t>(host), bytes).second) {
    throw ConfigError("register_host: the range is already registered");
  }
  registered_bytes_ += bytes;
  ++registrations_;
}

void EmulatedMemory::unregister_host(const void* host) noexcept {
  std::lock_guard lock(mutex_);
  auto it = registered_.find(reinterpret_cast<std::uintptr_t>(host));
  if (it == registered_.end()) return;
  registered_bytes_ -= it->second;
  registered_.erase(it);
}

bool EmulatedMemory::registered(const void* host, std::size_t bytes) const {
  std::lock_guard lock(mutex_);
  return registered_locked(host, bytes);
}

std::byte* EmulatedMemory::find(const void* device, std::size_t bytes, std::shared_ptr<HostBuffer>* keep) const {
  std::lock_guard lock(mutex_);
  const auto it = allocation_holding(device, bytes);
  if (it == allocations_.end()) return nullptr;
  if (keep != nullptr) *keep = it->second.backing;
  return it->second.backing->data() + (reinterpret_cast<std::uintptr_t>(device) - it->first);
}

PointerInfo EmulatedMemory::pointer_info(const void* address) const {
  PointerInfo info;
  std::lock_guard lock(mutex_);
  if (const auto it = allocation_holding(address, 0); it != allocations_.end()) {
    info.kind = PointerInfo::Kind::device;
    info.device = it->second.ordinal;
    info.base = it->first;
    info.size = it->second.bytes;
  } else if (registered_locked(address, 1)) {
    info.kind = PointerInfo::Kind::registered_host;
  }
  return info;
}

std::size_t EmulatedMemory::allocated(int ordinal) const {
  std::lock_guard lock(mutex_);
  return allocated_[ordinal];
}

std::size_t EmulatedMemory::registered_bytes() const {
  std::lock_guard lock(mutex_);
  return registered_bytes_;
}

std::map<std::uintptr_t, EmulatedMemory::Allocation>::const_iterator EmulatedMemory::allocation_holding(
    const void* device, std::size_t bytes) const {
  return range_holding(allocations_, reinterpret_cast<std::uintptr_t>(device), bytes,
                       [](const Allocation& a) { return a.bytes; });
}

bool EmulatedMemory::registered_locked(const void* host, std::size_t bytes) const {
  return range_holding(registered_, reinterpret_cast<std::uintptr_t>(host), bytes, [](std::size_t n) { return n; }) !=
         registered_.end();
}

}  // namespace swapio::detail
