// The host emulation of a GPU (make_emulated_device, device.hpp). Each allocation is two
// mappings: the address handed out (the "device" address) is a PROT_NONE reservation, so host
// code that touches it faults and the kernel refuses I/O into it (EFAULT); the bytes live in a
// host buffer at the same offset, which the device's copy queue copies to and from, in order,
// after an optional random delay.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <mutex>

#include "swapio/buffer.hpp"
#include "swapio/detail/copy_queue.hpp"
#include "swapio/device.hpp"
#include "swapio/error.hpp"

namespace swapio {
namespace {

class Emulated final : public EmulatedDevice {
 public:
  explicit Emulated(const EmulatedDeviceOptions& o)
      : queue_(std::make_shared<detail::CopyQueue>(detail::CopyQueueOptions{o.min_delay_us, o.max_delay_us, o.seed})) {}

  ~Emulated() override {
    queue_->release();
    queue_->synchronize();
    for (auto& [addr, a] : allocations_) unmap(a);
  }

  std::string name() const override { return "emulated"; }

  std::byte* allocate(std::size_t bytes) override {
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    Allocation a;
    a.bytes = bytes;
    a.mapped = bytes == 0 ? page : (bytes + page - 1) / page * page;
    // The backing is a host buffer like the staging's (huge pages, prefaulted): copies run at
    // memory speed, as a GPU's DMA would, instead of crawling over scattered 4 KiB pages.
    a.backing = HostBuffer(a.mapped);
    void* dev = ::mmap(nullptr, a.mapped, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (dev == MAP_FAILED) throw_io_error(errno, "mmap emulated device address range", "", 0, bytes);
    a.device = static_cast<std::byte*>(dev);
    std::lock_guard lock(mutex_);
    allocated_ += bytes;
    std::byte* const addr = a.device;
    allocations_.emplace(reinterpret_cast<std::uintptr_t>(addr), std::move(a));
    return addr;
  }

  void deallocate(std::byte* data) noexcept override {
    queue_->synchronize();  // as cudaFree does: no copy may still use it
    std::lock_guard lock(mutex_);
    auto it = allocations_.find(reinterpret_cast<std::uintptr_t>(data));
    if (it == allocations_.end()) return;
    allocated_ -= it->second.bytes;
    unmap(it->second);
    allocations_.erase(it);
  }

  void register_host(std::byte* host, std::size_t bytes) override {
    if (host == nullptr || bytes == 0) throw ConfigError("register_host: empty host range");
    if (find(host, bytes) != nullptr) throw ConfigError("register_host: the range is device memory");
    std::lock_guard lock(mutex_);
    if (!registered_.emplace(host, bytes).second) throw ConfigError("register_host: the range is already registered");
    registered_bytes_ += bytes;
  }

  void unregister_host(std::byte* host) noexcept override {
    std::lock_guard lock(mutex_);
    auto it = registered_.find(host);
    if (it == registered_.end()) return;
    registered_bytes_ -= it->second;
    registered_.erase(it);
  }

  std::unique_ptr<DeviceStream> create_stream() override {
    return std::make_unique<detail::QueuedStream>(
        queue_, [this](const std::byte* device, std::size_t bytes, const char* what) { return translate(device, bytes, what); });
  }

  void hold() override { queue_->hold(); }
  void release() override { queue_->release(); }
  std::uint64_t copies() const override { return queue_->stats().copies; }
  CopyStats copy_stats() const override {
    const detail::CopyQueue::Stats s = queue_->stats();
    return {s.copies, s.bytes, s.seconds};
  }
  std::size_t allocated_bytes() const override {
    std::lock_guard lock(mutex_);
    return allocated_;
  }
  std::size_t registered_bytes() const override {
    std::lock_guard lock(mutex_);
    return registered_bytes_;
  }

 private:
  struct Allocation {
    std::byte* device = nullptr;  // PROT_NONE: the address handed out
    HostBuffer backing;           // where the bytes live
    std::size_t bytes = 0;
    std::size_t mapped = 0;
  };

  static void unmap(const Allocation& a) noexcept {
    if (a.device != nullptr) ::munmap(a.device, a.mapped);
  }

  // The host bytes behind [device, device+bytes), which must lie inside one allocation; null otherwise.
  std::byte* find(const std::byte* device, std::size_t bytes) const {
    const auto addr = reinterpret_cast<std::uintptr_t>(device);
    std::lock_guard lock(mutex_);
    auto it = allocations_.upper_bound(addr);
    if (it == allocations_.begin()) return nullptr;
    --it;
    const Allocation& a = it->second;
    const std::uintptr_t off = addr - it->first;
    if (off > a.bytes || bytes > a.bytes - off) return nullptr;
    return const_cast<std::byte*>(a.backing.data()) + off;
  }

  std::byte* translate(const std::byte* device, std::size_t bytes, const char* what) const {
    std::byte* p = find(device, bytes);
    if (p == nullptr) {
      throw_io_error(EFAULT, std::string(what) + " emulated device", name(), reinterpret_cast<std::uintptr_t>(device), bytes,
                     "not inside one allocation of this device");
    }
    return p;
  }

  std::shared_ptr<detail::CopyQueue> queue_;
  mutable std::mutex mutex_;
  std::map<std::uintptr_t, Allocation> allocations_;
  std::size_t allocated_ = 0;
  std::map<std::byte*, std::size_t> registered_;  // host ranges registered for DMA
  std::size_t registered_bytes_ = 0;
};

}  // namespace

std::shared_ptr<EmulatedDevice> make_emulated_device(const EmulatedDeviceOptions& options) {
  return std::make_shared<Emulated>(options);
}

}  // namespace swapio
