// The host emulation of CUDA's driver (driver.hpp) and EmulatedDevice's controls (device.hpp).
//
// Memory: each allocation is two mappings. The address handed out (the "device" address) is a
// PROT_NONE reservation, so host code that touches it faults and the kernel refuses I/O into it
// (EFAULT); the bytes live in a host buffer at the same offset. Every emulated driver of the
// process answers pointer queries for its devices, as unified addressing does.
//
// Streams and events: swapio's streams on a device share its copy queue (one DMA engine, in
// order, each copy after an optional random delay); a caller's stream and the legacy default
// stream each have a queue of their own, where "kernels" run late. An event's record is a marker
// in a queue; a stream waiting for an event blocks its queue until the marker has run. Recording
// on the legacy default stream first waits for every blocking caller stream of the device, as
// CUDA's legacy stream does. An event created without blocking_sync spins when waited for (and
// counts as such).
//
// Current device: one per thread for the whole process (as CUDA's runtime has), which
// allocations and new streams use; copies and records must be issued with their stream's device
// current.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "swapio/buffer.hpp"
#include "swapio/detail/copy_queue.hpp"
#include "swapio/detail/driver.hpp"
#include "swapio/error.hpp"

namespace swapio {
namespace {

thread_local int t_current = 0;

struct EmuEvent {
  bool blocking = true;
  std::mutex mutex;
  std::condition_variable cv;
  std::uint64_t recorded = 0;   // records issued
  std::uint64_t completed = 0;  // the latest record whose marker has run

  void complete(std::uint64_t gen) {
    std::lock_guard lock(mutex);
    completed = std::max(completed, gen);
    cv.notify_all();
  }
  bool reached(std::uint64_t gen) {
    std::lock_guard lock(mutex);
    return completed >= gen;
  }
  void block_until(std::uint64_t gen) {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return completed >= gen; });
  }
};
using EventRef = std::shared_ptr<EmuEvent>;

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

// An event queued on `queue` that completes once everything queued before it has run.
EventRef mark(detail::CopyQueue& queue) {
  auto e = std::make_shared<EmuEvent>();
  e->recorded = 1;
  queue.call([e] { e->complete(1); });
  return e;
}

struct EmuStream {
  int ordinal = 0;
  std::shared_ptr<detail::CopyQueue> queue;
  bool caller = false;    // a caller's (or the legacy default) stream: its own queue
  bool blocking = false;  // the legacy default stream waits for it
};

class EmulatedDriver final : public detail::Driver {
 public:
  EmulatedDriver(int count, const EmulatedDeviceOptions& o) : names_single_(count == 1) {
    for (int i = 0; i < count; ++i) {
      auto& d = devices_.emplace_back(std::make_unique<PerDevice>());
      detail::CopyQueueOptions q{o.min_delay_us, o.max_delay_us, o.seed + static_cast<std::uint64_t>(i)};
      d->dma = std::make_shared<detail::CopyQueue>(q);
      d->legacy.ordinal = i;
      d->legacy.queue = std::make_shared<detail::CopyQueue>();
      d->legacy.caller = true;
    }
  }

  ~EmulatedDriver() override {
    staging.trim(*this);
    for (auto& d : devices_) {
      d->dma->release();
      d->dma->synchronize();
      d->legacy.queue->synchronize();
      for (auto& s : d->callers) s->queue->synchronize();
    }
    for (auto& [addr, a] : allocations_) ::munmap(a.device, a.mapped);
  }

  // --- the driver seam ---

  std::string device_name(int ordinal) const override {
    return names_single_ ? "emulated" : "emulated:" + std::to_string(ordinal);
  }
  int device_count(std::string*) override { return static_cast<int>(devices_.size()); }
  int current_device() override { return t_current; }
  void set_current_device(int ordinal) override {
    if (ordinal < 0) fail(-1, "cudaSetDevice", "cudaErrorInvalidDevice");
    t_current = ordinal;
  }

  void* allocate(std::size_t bytes) override {
    const int ordinal = current("cudaMalloc");
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    Allocation a;
    a.ordinal = ordinal;
    a.bytes = bytes;
    a.mapped = bytes == 0 ? page : (bytes + page - 1) / page * page;
    // The backing is a host buffer like the staging's (huge pages, prefaulted): copies run at
    // memory speed, as a GPU's DMA would, instead of crawling over scattered 4 KiB pages.
    a.backing = std::make_shared<HostBuffer>(a.mapped);
    void* dev = ::mmap(nullptr, a.mapped, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (dev == MAP_FAILED) throw_io_error(errno, "mmap emulated device address range", device_name(ordinal), 0, bytes);
    a.device = static_cast<std::byte*>(dev);
    std::lock_guard lock(mutex_);
    devices_[ordinal]->allocated += bytes;
    allocations_.emplace(reinterpret_cast<std::uintptr_t>(dev), std::move(a));
    return dev;
  }

  void free(void* data) noexcept override {
    int ordinal = -1;
    {
      std::lock_guard lock(mutex_);
      auto it = allocations_.find(reinterpret_cast<std::uintptr_t>(data));
      if (it == allocations_.end()) return;
      ordinal = it->second.ordinal;
    }
    devices_[ordinal]->dma->synchronize();  // as cudaFree does: no copy may still use it
    std::lock_guard lock(mutex_);
    auto it = allocations_.find(reinterpret_cast<std::uintptr_t>(data));
    if (it == allocations_.end()) return;
    devices_[ordinal]->allocated -= it->second.bytes;
    ::munmap(it->second.device, it->second.mapped);
    allocations_.erase(it);
  }

  void register_host(void* host, std::size_t bytes) override {
    if (host == nullptr || bytes == 0) throw ConfigError("register_host: empty host range");
    if (find(host, bytes, nullptr) != nullptr) throw ConfigError("register_host: the range is device memory");
    (void)current("cudaHostRegister");  // CUDA maps it for the current device's context
    std::lock_guard lock(mutex_);
    if (!registered_.emplace(reinterpret_cast<std::uintptr_t>(host), bytes).second) {
      throw ConfigError("register_host: the range is already registered");
    }
    registered_bytes_ += bytes;
    ++counters_.registrations;
  }

  void unregister_host(void* host) noexcept override {
    std::lock_guard lock(mutex_);
    auto it = registered_.find(reinterpret_cast<std::uintptr_t>(host));
    if (it == registered_.end()) return;
    registered_bytes_ -= it->second;
    registered_.erase(it);
  }

  Stream create_stream() override {
    const int ordinal = current("cudaStreamCreate");
    auto s = std::make_unique<EmuStream>();
    s->ordinal = ordinal;
    s->queue = devices_[ordinal]->dma;
    std::lock_guard lock(mutex_);
    ++counters_.streams_created;
    Stream handle = s.get();
    streams_.emplace(handle, std::move(s));
    return handle;
  }

  // As cudaStreamDestroy: returns at once; what was queued still runs (the commands hold what
  // they use, not the stream).
  void destroy_stream(Stream stream) noexcept override {
    std::lock_guard lock(mutex_);
    streams_.erase(stream);
  }

  void copy_async(void* dst, const void* src, std::size_t bytes, bool to_device, Stream stream) override {
    EmuStream& s = resolve(stream, to_device ? "cudaMemcpyAsync to device" : "cudaMemcpyAsync to host");
    if (bytes == 0) return;
    const char* what = to_device ? "copy to" : "copy from";
    std::shared_ptr<HostBuffer> keep;
    std::byte* d = static_cast<std::byte*>(dst);
    const std::byte* h = static_cast<const std::byte*>(src);
    if (to_device) {
      d = translate(dst, bytes, what, &keep);
    } else {
      h = translate(src, bytes, what, &keep);
    }
    if (!registered(to_device ? src : dst, bytes)) ++counters_.pageable_copies;
    s.queue->copy(d, h, bytes);
    // The allocation's bytes stay mapped until the copy has run, whatever the caller frees.
    s.queue->call([keep = std::move(keep)] {});
  }

  Event create_event(bool blocking_sync) override {
    (void)current("cudaEventCreate");
    auto* e = new EventRef(std::make_shared<EmuEvent>());
    (*e)->blocking = blocking_sync;
    return e;
  }
  void destroy_event(Event event) noexcept override { delete static_cast<EventRef*>(event); }

  void record(Event event, Stream stream) override {
    EmuStream& s = resolve(stream, "cudaEventRecord");
    const EventRef e = *static_cast<EventRef*>(event);
    std::uint64_t gen = 0;
    {
      std::lock_guard lock(e->mutex);
      gen = ++e->recorded;
    }
    if (stream == nullptr) {
      // The legacy default stream waits for the work queued on every blocking stream.
      std::lock_guard lock(mutex_);
      for (auto& c : devices_[s.ordinal]->callers) {
        if (!c->blocking) continue;
        const EventRef sub = mark(*c->queue);
        s.queue->call([sub] { sub->block_until(1); });
      }
    }
    s.queue->call([e, gen] { e->complete(gen); });
  }

  bool query(Event event) override {
    const EventRef& e = *static_cast<EventRef*>(event);
    std::lock_guard lock(e->mutex);
    return e->completed >= e->recorded;
  }

  void synchronize(Event event) override {
    const EventRef e = *static_cast<EventRef*>(event);
    std::uint64_t gen = 0;
    {
      std::lock_guard lock(e->mutex);
      gen = e->recorded;
      if (e->completed >= gen) return;
    }
    if (e->blocking) {
      ++counters_.blocking_waits;
      e->block_until(gen);
    } else {
      ++counters_.spinning_waits;
      while (!e->reached(gen)) std::this_thread::yield();
    }
  }

  void stream_wait(Stream stream, Event event) override {
    EmuStream& s = resolve(stream, "cudaStreamWaitEvent", false);
    const EventRef e = *static_cast<EventRef*>(event);
    std::uint64_t gen = 0;
    {
      std::lock_guard lock(e->mutex);
      gen = e->recorded;
    }
    if (gen == 0) return;
    s.queue->call([e, gen] { e->block_until(gen); });
  }

  void synchronize_stream(Stream stream) noexcept override {
    EmuStream* s = nullptr;
    try {
      s = &resolve(stream, "cudaStreamSynchronize", false);
    } catch (...) {
      return;
    }
    try {
      mark(*s->queue)->block_until(1);
    } catch (...) {  // no memory for a marker: wait for the whole queue instead
      s->queue->synchronize();
    }
  }

  PointerInfo pointer_info(const void* address) override {
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

  std::string lost(int ordinal) const override {
    std::lock_guard lock(mutex_);
    return ordinal >= 0 && static_cast<std::size_t>(ordinal) < devices_.size() ? devices_[ordinal]->lost : "";
  }

  // --- EmulatedDevice's controls ---

  detail::CopyQueue& dma(int ordinal) { return *devices_[ordinal]->dma; }
  std::size_t allocated(int ordinal) const {
    std::lock_guard lock(mutex_);
    return devices_[ordinal]->allocated;
  }
  std::size_t registered_bytes() const {
    std::lock_guard lock(mutex_);
    return registered_bytes_;
  }
  EmulatedDevice::DriverCounters counters() const {
    return {counters_.registrations.load(), counters_.streams_created.load(), counters_.blocking_waits.load(),
            counters_.spinning_waits.load(), counters_.pageable_copies.load()};
  }
  void* create_caller_stream(int ordinal, bool blocking) {
    auto s = std::make_unique<EmuStream>();
    s->ordinal = ordinal;
    s->queue = std::make_shared<detail::CopyQueue>();
    s->caller = true;
    s->blocking = blocking;
    std::lock_guard lock(mutex_);
    void* handle = s.get();
    devices_[ordinal]->callers.push_back(std::move(s));
    return handle;
  }
  EmuStream& caller_stream(int ordinal, void* stream) {
    if (stream == nullptr) return devices_[ordinal]->legacy;
    std::lock_guard lock(mutex_);
    for (auto& c : devices_[ordinal]->callers) {
      if (c.get() == stream) return *c;
    }
    throw ConfigError("stream " + std::to_string(reinterpret_cast<std::uintptr_t>(stream)) + " is not a stream of " +
                      device_name(ordinal));
  }
  void launch_write(int ordinal, void* stream, const DeviceSpan& dst, std::vector<std::byte> bytes,
                    std::uint32_t delay_us) {
    EmuStream& s = caller_stream(ordinal, stream);
    std::shared_ptr<HostBuffer> keep;
    std::byte* target = translate(dst.data, bytes.size(), "kernel write to", &keep);
    s.queue->call([target, keep = std::move(keep), bytes = std::move(bytes), delay_us] {
      if (delay_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
      std::memcpy(target, bytes.data(), bytes.size());
    });
  }
  void synchronize_caller(int ordinal, void* stream) {
    mark(*caller_stream(ordinal, stream).queue)->block_until(1);
  }
  void lose(int ordinal, const std::string& why) {
    std::lock_guard lock(mutex_);
    devices_[ordinal]->lost = why;
  }

  // The device objects, to answer which one holds an address.
  std::vector<std::weak_ptr<Device>> device_objects;

 private:
  struct Allocation {
    int ordinal = 0;
    std::byte* device = nullptr;          // PROT_NONE: the address handed out
    std::shared_ptr<HostBuffer> backing;  // where the bytes live
    std::size_t bytes = 0;
    std::size_t mapped = 0;
  };
  struct PerDevice {
    std::shared_ptr<detail::CopyQueue> dma;
    EmuStream legacy;
    std::vector<std::unique_ptr<EmuStream>> callers;
    std::size_t allocated = 0;
    std::string lost;
  };

  [[noreturn]] void fail(int ordinal, const char* op, const std::string& why) const {
    throw_io_error(EIO, op, ordinal >= 0 ? device_name(ordinal) : "emulated", 0, 0, why + " (emulated)");
  }

  // The current device, checked as a call that acts on it: it must exist and work.
  int current(const char* op) const {
    const int ordinal = t_current;
    if (ordinal < 0 || static_cast<std::size_t>(ordinal) >= devices_.size()) {
      fail(ordinal, op, "cudaErrorInvalidDevice: the current device (" + std::to_string(ordinal) + ") is not a device of this driver");
    }
    const std::string why = lost(ordinal);
    if (!why.empty()) fail(ordinal, op, why);
    return ordinal;
  }

  // The stream a call names, which must belong to the current device (`same_device`) as CUDA
  // wants for copies and records.
  EmuStream& resolve(Stream stream, const char* op, bool same_device = true) {
    if (stream == nullptr) return devices_[current(op)]->legacy;
    EmuStream* s = nullptr;
    {
      std::lock_guard lock(mutex_);
      auto it = streams_.find(stream);
      if (it != streams_.end()) {
        s = it->second.get();
      } else {
        for (auto& d : devices_) {
          for (auto& c : d->callers) {
            if (c.get() == stream) s = c.get();
          }
        }
      }
    }
    if (s == nullptr) fail(t_current, op, "cudaErrorInvalidResourceHandle: not a stream");
    const std::string why = lost(s->ordinal);
    if (!why.empty()) fail(s->ordinal, op, why);
    if (same_device && s->ordinal != t_current) {
      fail(s->ordinal, op,
           "cudaErrorInvalidResourceHandle: a stream of " + device_name(s->ordinal) + " used while device " +
               std::to_string(t_current) + " is current");
    }
    return *s;
  }

  // The host bytes behind [device, device+bytes), which must lie inside one allocation; null
  // otherwise.
  std::byte* find(const void* device, std::size_t bytes, std::shared_ptr<HostBuffer>* keep) const {
    std::lock_guard lock(mutex_);
    const auto it = allocation_holding(device, bytes);
    if (it == allocations_.end()) return nullptr;
    if (keep != nullptr) *keep = it->second.backing;
    return it->second.backing->data() + (reinterpret_cast<std::uintptr_t>(device) - it->first);
  }

  // With mutex_ held.
  std::map<std::uintptr_t, Allocation>::const_iterator allocation_holding(const void* device, std::size_t bytes) const {
    return range_holding(allocations_, reinterpret_cast<std::uintptr_t>(device), bytes,
                         [](const Allocation& a) { return a.bytes; });
  }

  std::byte* translate(const void* device, std::size_t bytes, const char* what, std::shared_ptr<HostBuffer>* keep) const {
    std::byte* p = find(device, bytes, keep);
    if (p == nullptr) {
      throw_io_error(EFAULT, std::string(what) + " emulated device", device_name(t_current),
                     reinterpret_cast<std::uintptr_t>(device), bytes, "not inside one allocation of this device");
    }
    return p;
  }

  bool registered_locked(const void* host, std::size_t bytes) const {
    return range_holding(registered_, reinterpret_cast<std::uintptr_t>(host), bytes, [](std::size_t n) { return n; }) !=
           registered_.end();
  }
  bool registered(const void* host, std::size_t bytes) const {
    std::lock_guard lock(mutex_);
    return registered_locked(host, bytes);
  }

  bool names_single_;
  std::vector<std::unique_ptr<PerDevice>> devices_;  // fixed after construction
  mutable std::mutex mutex_;
  std::map<std::uintptr_t, Allocation> allocations_;
  std::map<std::uintptr_t, std::size_t> registered_;  // host ranges registered for DMA
  std::size_t registered_bytes_ = 0;
  std::map<Stream, std::unique_ptr<EmuStream>> streams_;
  struct {
    std::atomic<std::uint64_t> registrations{0}, streams_created{0}, blocking_waits{0}, spinning_waits{0},
        pageable_copies{0};
  } counters_;
};

// Every live emulated driver, for pointer queries that do not name one.
std::mutex g_drivers_mutex;
std::vector<std::weak_ptr<EmulatedDriver>> g_drivers;

class EmulatedDeviceObject final : public EmulatedDevice {
 public:
  EmulatedDeviceObject(std::shared_ptr<detail::Driver> driver, int ordinal) : EmulatedDevice(std::move(driver), ordinal) {}
};

EmulatedDriver& emu(const Device& d) { return static_cast<EmulatedDriver&>(d.driver()); }

}  // namespace

void EmulatedDevice::hold() { emu(*this).dma(ordinal()).hold(); }
void EmulatedDevice::release() { emu(*this).dma(ordinal()).release(); }
std::uint64_t EmulatedDevice::copies() const { return emu(*this).dma(ordinal()).stats().copies; }
EmulatedDevice::CopyStats EmulatedDevice::copy_stats() const {
  const detail::CopyQueue::Stats s = emu(*this).dma(ordinal()).stats();
  return {s.copies, s.bytes, s.seconds};
}
std::size_t EmulatedDevice::allocated_bytes() const { return emu(*this).allocated(ordinal()); }
std::size_t EmulatedDevice::registered_bytes() const { return emu(*this).registered_bytes(); }
EmulatedDevice::DriverCounters EmulatedDevice::counters() const { return emu(*this).counters(); }
void* EmulatedDevice::create_caller_stream(bool blocking) { return emu(*this).create_caller_stream(ordinal(), blocking); }
void EmulatedDevice::launch_write(void* stream, DeviceSpan dst, std::vector<std::byte> bytes, std::uint32_t delay_us) {
  emu(*this).launch_write(ordinal(), stream, dst, std::move(bytes), delay_us);
}
void EmulatedDevice::synchronize_caller_stream(void* stream) { emu(*this).synchronize_caller(ordinal(), stream); }
void EmulatedDevice::lose(const std::string& why) { emu(*this).lose(ordinal(), why); }
int EmulatedDevice::current() { return t_current; }
void EmulatedDevice::make_current(int ordinal) { t_current = ordinal; }

std::vector<std::shared_ptr<EmulatedDevice>> make_emulated_devices(int count, const EmulatedDeviceOptions& options) {
  if (count < 1) throw ConfigError("make_emulated_devices: count must be at least 1, not " + std::to_string(count));
  auto driver = std::make_shared<EmulatedDriver>(count, options);
  std::vector<std::shared_ptr<EmulatedDevice>> out;
  for (int i = 0; i < count; ++i) {
    out.push_back(std::make_shared<EmulatedDeviceObject>(driver, i));
    driver->device_objects.push_back(out.back());
  }
  std::lock_guard lock(g_drivers_mutex);
  std::erase_if(g_drivers, [](const auto& w) { return w.expired(); });
  g_drivers.push_back(driver);
  return out;
}

std::shared_ptr<EmulatedDevice> make_emulated_device(const EmulatedDeviceOptions& options) {
  return make_emulated_devices(1, options).front();
}

namespace detail {

std::shared_ptr<Device> emulated_device_holding(const void* address, PointerInfo* info) {
  std::vector<std::shared_ptr<EmulatedDriver>> drivers;
  {
    std::lock_guard lock(g_drivers_mutex);
    for (auto& w : g_drivers) {
      if (auto d = w.lock()) drivers.push_back(std::move(d));
    }
  }
  for (auto& d : drivers) {
    const PointerInfo i = d->pointer_info(address);
    if (i.kind != PointerInfo::Kind::device) continue;
    if (auto dev = d->device_objects[i.device].lock()) {
      if (info != nullptr) *info = i;
      return dev;
    }
  }
  return nullptr;
}

}  // namespace detail
}  // namespace swapio
