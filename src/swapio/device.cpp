#include "swapio/device.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include "swapio/buffer.hpp"
#include "swapio/detail/cuda_device.hpp"
#include "swapio/error.hpp"

namespace swapio {

void Device::copy_to_device(DeviceSpan dst, const std::byte* host) {
  if (dst.size == 0) return;
  auto stream = create_stream();
  stream->copy_to_device(dst.data, host, dst.size);
  stream->wait(stream->record());
}

void Device::copy_to_host(std::byte* host, DeviceSpan src) {
  if (src.size == 0) return;
  auto stream = create_stream();
  stream->copy_to_host(host, src.data, src.size);
  stream->wait(stream->record());
}

DeviceBuffer::DeviceBuffer(std::shared_ptr<Device> device, std::size_t bytes) : device_(std::move(device)), size_(bytes) {
  if (!device_) throw ConfigError("DeviceBuffer: no device");
  data_ = device_->allocate(bytes);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : device_(std::move(other.device_)), data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) device_->deallocate(data_);
    device_ = std::move(other.device_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() {
  if (data_ != nullptr) device_->deallocate(data_);
}

namespace {

// The host emulation. Each allocation is two mappings: the address handed out (the "device"
// address) is a PROT_NONE reservation, so host code that touches it faults and the kernel
// refuses I/O into it (EFAULT); the bytes live in a host buffer the device thread copies to and
// from, at the same offset.
class Emulated;

class EmulatedStream final : public DeviceStream {
 public:
  explicit EmulatedStream(Emulated& device) : device_(device) {}
  ~EmulatedStream() override { drain(); }

  void copy_to_device(std::byte* device, const std::byte* host, std::size_t bytes) override;
  void copy_to_host(std::byte* host, const std::byte* device, std::size_t bytes) override;
  std::uint64_t record() override;
  bool done(std::uint64_t ticket) override {
    std::lock_guard lock(mutex_);
    return completed_ >= ticket;
  }
  void wait(std::uint64_t ticket) override {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return completed_ >= ticket; });
  }
  void drain() noexcept override;

  void complete(std::uint64_t ticket) {
    // Notify under the lock: a waiter that wakes may destroy the stream right after.
    std::lock_guard lock(mutex_);
    completed_ = ticket;
    cv_.notify_all();
  }

 private:
  Emulated& device_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::uint64_t recorded_ = 0;  // only the owning thread records
  std::uint64_t completed_ = 0;
};

class Emulated final : public EmulatedDevice {
 public:
  explicit Emulated(const EmulatedDeviceOptions& options)
      : options_(options), rng_(options.seed), thread_([this] { serve(); }) {
    if (options_.max_delay_us < options_.min_delay_us) {
      options_.max_delay_us = options_.min_delay_us;
    }
  }

  ~Emulated() override {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
      held_ = false;
    }
    cv_.notify_all();
    thread_.join();
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
    std::lock_guard lock(alloc_mutex_);
    allocated_ += bytes;
    std::byte* const addr = a.device;
    allocations_.emplace(reinterpret_cast<std::uintptr_t>(addr), std::move(a));
    return addr;
  }

  void deallocate(std::byte* data) noexcept override {
    synchronize();  // as cudaFree does: no copy may still use it
    std::lock_guard lock(alloc_mutex_);
    auto it = allocations_.find(reinterpret_cast<std::uintptr_t>(data));
    if (it == allocations_.end()) return;
    allocated_ -= it->second.bytes;
    unmap(it->second);
    allocations_.erase(it);
  }

  void register_host(std::byte* host, std::size_t bytes) override {
    if (host == nullptr || bytes == 0) {
      throw ConfigError("register_host: empty host range");
    }
    if (find(host, bytes) != nullptr) throw ConfigError("register_host: the range is device memory");
    std::lock_guard lock(alloc_mutex_);
    if (!registered_.emplace(host, bytes).second) throw ConfigError("register_host: the range is already registered");
    registered_bytes_ += bytes;
  }
  void unregister_host(std::byte* host) noexcept override {
    std::lock_guard lock(alloc_mutex_);
    auto it = registered_.find(host);
    if (it == registered_.end()) return;
    registered_bytes_ -= it->second;
    registered_.erase(it);
  }

  std::unique_ptr<DeviceStream> create_stream() override { return std::make_unique<EmulatedStream>(*this); }

  void hold() override {
    std::lock_guard lock(mutex_);
    held_ = true;
  }
  void release() override {
    {
      std::lock_guard lock(mutex_);
      held_ = false;
    }
    cv_.notify_all();
  }
  std::uint64_t copies() const override {
    std::lock_guard lock(mutex_);
    return copies_;
  }
  CopyStats copy_stats() const override {
    std::lock_guard lock(mutex_);
    return {copies_, copied_bytes_, static_cast<double>(copy_ns_) / 1e9};
  }
  std::size_t allocated_bytes() const override {
    std::lock_guard lock(alloc_mutex_);
    return allocated_;
  }
  std::size_t registered_bytes() const override {
    std::lock_guard lock(alloc_mutex_);
    return registered_bytes_;
  }

  // The writable view of [device, device+bytes), which must lie inside one allocation.
  std::byte* translate(const std::byte* device, std::size_t bytes, const char* op) const {
    std::byte* p = find(device, bytes);
    if (p == nullptr) {
      throw_io_error(EFAULT, op, name(), reinterpret_cast<std::uintptr_t>(device), bytes,
                     "not inside one allocation of this device");
    }
    return p;
  }

  void enqueue_copy(EmulatedStream* stream, std::byte* dst, const std::byte* src, std::size_t bytes) {
    push(Command{stream, dst, src, bytes, 0});
  }
  void enqueue_marker(EmulatedStream* stream, std::uint64_t ticket) { push(Command{stream, nullptr, nullptr, 0, ticket}); }

 private:
  struct Allocation {
    std::byte* device = nullptr;  // PROT_NONE: the address handed out
    HostBuffer backing;           // where the bytes live
    std::size_t bytes = 0;
    std::size_t mapped = 0;
  };
  struct Command {
    EmulatedStream* stream;
    std::byte* dst;  // null for a marker
    const std::byte* src;
    std::size_t bytes;
    std::uint64_t ticket;
  };

  static void unmap(const Allocation& a) noexcept {
    if (a.device != nullptr) ::munmap(a.device, a.mapped);
  }

  std::byte* find(const std::byte* device, std::size_t bytes) const {
    const auto addr = reinterpret_cast<std::uintptr_t>(device);
    std::lock_guard lock(alloc_mutex_);
    auto it = allocations_.upper_bound(addr);
    if (it == allocations_.begin()) return nullptr;
    --it;
    const Allocation& a = it->second;
    const std::uintptr_t off = addr - it->first;
    if (off > a.bytes || bytes > a.bytes - off) return nullptr;
    return const_cast<std::byte*>(a.backing.data()) + off;
  }

  void push(Command c) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(c);
    }
    cv_.notify_all();
  }

  void synchronize() noexcept {
    std::unique_lock lock(mutex_);
    idle_cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
  }

  void serve() {
    std::unique_lock lock(mutex_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || (!held_ && !queue_.empty()); });
      if (queue_.empty()) return;  // stopping, and nothing left
      Command c = queue_.front();
      queue_.pop_front();
      busy_ = true;
      std::uint32_t delay = 0;
      std::uint64_t copy_ns = 0;
      if (c.dst != nullptr && options_.max_delay_us > 0) {
        delay = std::uniform_int_distribution<std::uint32_t>(options_.min_delay_us, options_.max_delay_us)(rng_);
      }
      lock.unlock();
      if (c.dst == nullptr) {
        c.stream->complete(c.ticket);
      } else {
        if (delay > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay));
        const auto t0 = std::chrono::steady_clock::now();
        std::memcpy(c.dst, c.src, c.bytes);
        copy_ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
      }
      lock.lock();
      if (c.dst != nullptr) {
        ++copies_;
        copy_ns_ += copy_ns;
        copied_bytes_ += c.bytes;
      }
      busy_ = false;
      if (queue_.empty()) idle_cv_.notify_all();
    }
  }

  EmulatedDeviceOptions options_;
  std::mt19937_64 rng_;  // only the device thread draws

  mutable std::mutex alloc_mutex_;
  std::map<std::uintptr_t, Allocation> allocations_;
  std::size_t allocated_ = 0;
  std::map<std::byte*, std::size_t> registered_;  // host ranges registered for DMA
  std::size_t registered_bytes_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Command> queue_;
  bool held_ = false;
  bool stop_ = false;
  bool busy_ = false;
  std::uint64_t copies_ = 0;
  std::uint64_t copy_ns_ = 0;
  std::uint64_t copied_bytes_ = 0;
  std::thread thread_;  // last: starts after every member above exists
};

void EmulatedStream::copy_to_device(std::byte* device, const std::byte* host, std::size_t bytes) {
  if (bytes == 0) return;
  device_.enqueue_copy(this, device_.translate(device, bytes, "copy to emulated device"), host, bytes);
}

void EmulatedStream::copy_to_host(std::byte* host, const std::byte* device, std::size_t bytes) {
  if (bytes == 0) return;
  device_.enqueue_copy(this, host, device_.translate(device, bytes, "copy from emulated device"), bytes);
}

std::uint64_t EmulatedStream::record() {
  const std::uint64_t ticket = ++recorded_;
  device_.enqueue_marker(this, ticket);
  return ticket;
}

void EmulatedStream::drain() noexcept {
  try {
    wait(record());
  } catch (...) {
  }
}

}  // namespace

std::shared_ptr<EmulatedDevice> make_emulated_device(const EmulatedDeviceOptions& options) {
  return std::make_shared<Emulated>(options);
}

bool cuda_built() noexcept { return detail::cuda_built(); }

int cuda_device_count(std::string* why_none) { return detail::cuda_device_count(why_none); }

std::shared_ptr<Device> open_device(std::string_view spec) {
  if (spec == "emulated") return make_emulated_device();
  if (spec == "cuda" || spec.starts_with("cuda:")) {
    int index = 0;
    if (spec.size() > 5) {
      const std::string_view digits = spec.substr(5);
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
      if (ec != std::errc{} || end != digits.data() + digits.size() || index < 0) {
        throw ConfigError("device '" + std::string(spec) + "': expected cuda:N with N a device number");
      }
    }
    return detail::open_cuda_device(index);
  }
  throw ConfigError("device '" + std::string(spec) + "': expected cuda, cuda:N or emulated");
}

}  // namespace swapio
