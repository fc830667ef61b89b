#include "swapio/device.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <deque>
#include <mutex>
#include <utility>

#include "swapio/detail/driver.hpp"
#include "swapio/error.hpp"

namespace swapio {
namespace {

// Whether a device was opened in this process and whether the process is a child forked after
// that: CUDA's state does not survive fork().
std::atomic<bool> g_opened{false};
std::atomic<bool> g_forked{false};

void note_opened() {
  static std::once_flag once;
  std::call_once(once, [] {
    ::pthread_atfork(nullptr, nullptr, [] {
      if (g_opened.load()) g_forked.store(true);
    });
  });
  g_opened.store(true);
}

std::string hex(const void* p) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, reinterpret_cast<std::uintptr_t>(p), 16);
  return "0x" + std::string(buf, end);
}

// A device's stream for one worker thread. Tickets are events (blocking, so waits sleep)
// recorded on it and recycled once passed. Every call sets the stream's device current and
// restores the caller's.
class DriverStream final : public DeviceStream {
 public:
  DriverStream(std::shared_ptr<detail::Driver> driver, int ordinal) : driver_(std::move(driver)), ordinal_(ordinal) {
    const detail::CurrentDevice on(*driver_, ordinal_);
    stream_ = driver_->create_stream();
  }
  ~DriverStream() override {
    drain();
    try {
      const detail::CurrentDevice on(*driver_, ordinal_);
      for (auto& [ticket, event] : pending_) driver_->destroy_event(event);
      for (detail::Driver::Event event : spare_) driver_->destroy_event(event);
      driver_->destroy_stream(stream_);
    } catch (...) {  // a lost device: nothing left to free
    }
  }

  void copy_to_device(std::byte* device, const std::byte* host, std::size_t bytes) override {
    if (bytes == 0) return;
    const detail::CurrentDevice on(*driver_, ordinal_);
    driver_->copy_async(device, host, bytes, true, stream_);
  }
  void copy_to_host(std::byte* host, const std::byte* device, std::size_t bytes) override {
    if (bytes == 0) return;
    const detail::CurrentDevice on(*driver_, ordinal_);
    driver_->copy_async(host, device, bytes, false, stream_);
  }
  void order_after(const detail::Fence& fence) override {
    const detail::CurrentDevice on(*driver_, ordinal_);
    driver_->stream_wait(stream_, fence.event);
  }
  std::uint64_t record() override {
    const detail::CurrentDevice on(*driver_, ordinal_);
    detail::Driver::Event event = nullptr;
    if (spare_.empty()) {
      event = driver_->create_event(true);
    } else {
      event = spare_.back();
      spare_.pop_back();
    }
    try {
      driver_->record(event, stream_);
    } catch (...) {
      spare_.push_back(event);
      throw;
    }
    pending_.emplace_back(++recorded_, event);
    return recorded_;
  }
  // The staging ring polls done() between requests: nothing to ask the driver (nor a device to
  // set) when no ticket up to `ticket` is pending.
  bool done(std::uint64_t ticket) override {
    if (!due(ticket)) return true;
    const detail::CurrentDevice on(*driver_, ordinal_);
    for (; due(ticket); pop()) {
      if (!driver_->query(pending_.front().second)) return false;
    }
    return true;
  }
  void wait(std::uint64_t ticket) override {
    if (!due(ticket)) return;
    const detail::CurrentDevice on(*driver_, ordinal_);
    for (; due(ticket); pop()) driver_->synchronize(pending_.front().second);
  }
  void drain() noexcept override { driver_->synchronize_stream(stream_); }

 private:
  bool due(std::uint64_t ticket) const { return !pending_.empty() && pending_.front().first <= ticket; }
  void pop() {
    spare_.push_back(pending_.front().second);
    pending_.pop_front();
  }

  std::shared_ptr<detail::Driver> driver_;
  int ordinal_;
  detail::Driver::Stream stream_ = nullptr;
  std::uint64_t recorded_ = 0;
  std::deque<std::pair<std::uint64_t, detail::Driver::Event>> pending_;
  std::vector<detail::Driver::Event> spare_;
};

class CudaDeviceObject final : public Device {
 public:
  CudaDeviceObject(std::shared_ptr<detail::Driver> driver, int ordinal) : Device(std::move(driver), ordinal) {}
};

constexpr std::size_t kMinStaging = std::size_t{2} << 20;
constexpr std::size_t kBounceBytes = std::size_t{8} << 20;

}  // namespace

// --- the staging cache ----------------------------------------------------------------------

namespace detail {

std::byte* StagingCache::take(Driver& driver, int ordinal, std::size_t bytes, std::size_t* size) {
  const std::size_t want = std::bit_ceil(std::max(bytes, kMinStaging));
  {
    std::lock_guard lock(mutex_);
    auto best = free_.end();
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->size() >= want && (best == free_.end() || it->size() < best->size())) best = it;
    }
    if (best != free_.end()) {
      cached_ -= best->size();
      lent_.push_back(std::move(*best));
      free_.erase(best);
      *size = lent_.back().size();
      return lent_.back().data();
    }
  }
  HostBuffer buffer(want, MemoryKind::aligned);
  {
    const CurrentDevice on(driver, ordinal);  // cudaHostRegister maps it for the current context
    driver.register_host(buffer.data(), buffer.size());
  }
  std::lock_guard lock(mutex_);
  lent_.push_back(std::move(buffer));
  *size = lent_.back().size();
  return lent_.back().data();
}

void StagingCache::give_back(Driver& driver, std::byte* data) noexcept {
  HostBuffer unused;
  {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(lent_.begin(), lent_.end(), [&](const HostBuffer& b) { return b.data() == data; });
    if (it == lent_.end()) return;
    HostBuffer b = std::move(*it);
    lent_.erase(it);
    if (cached_ + b.size() <= kKeepBytes) {
      cached_ += b.size();
      free_.push_back(std::move(b));
      return;
    }
    unused = std::move(b);
  }
  driver.unregister_host(unused.data());
}

std::size_t StagingCache::cached_bytes() const {
  std::lock_guard lock(mutex_);
  return cached_;
}

void StagingCache::trim(Driver& driver) noexcept {
  std::vector<HostBuffer> unused;
  {
    std::lock_guard lock(mutex_);
    unused.swap(free_);
    cached_ = 0;
  }
  for (HostBuffer& b : unused) driver.unregister_host(b.data());
}

}  // namespace detail

StagingLease::StagingLease(StagingLease&& other) noexcept
    : device_(std::move(other.device_)), data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

StagingLease& StagingLease::operator=(StagingLease&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) device_->give_back(data_);
    device_ = std::move(other.device_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

StagingLease::~StagingLease() {
  if (data_ != nullptr) device_->give_back(data_);
}

// --- Device ---------------------------------------------------------------------------------

// The setup and validation copies' one stream; their bounce buffer is leased from the staging
// cache per call.
struct Device::Copier {
  std::mutex mutex;
  std::unique_ptr<DeviceStream> stream;
};

Device::Device(std::shared_ptr<detail::Driver> driver, int ordinal)
    : driver_(std::move(driver)), ordinal_(ordinal), copier_(std::make_unique<Copier>()) {
  note_opened();
}

Device::~Device() = default;

std::string Device::name() const { return driver_->device_name(ordinal_); }

void Device::usable() const {
  if (g_forked.load(std::memory_order_relaxed)) {
    throw ConfigError(name() + ": this process was forked after it used a GPU, and CUDA does not survive fork(): "
                      "start worker processes with spawn, or fork before opening any device");
  }
  const std::string why = driver_->lost(ordinal_);
  if (!why.empty()) {
    throw_io_error(EIO, "device", name(), 0, 0,
                   "the device is lost after a sticky error (" + why +
                       "); no GPU work can succeed in this process again: restart it");
  }
}

std::byte* Device::allocate(std::size_t bytes) {
  usable();
  const detail::CurrentDevice on(*driver_, ordinal_);
  return static_cast<std::byte*>(driver_->allocate(bytes));
}

void Device::deallocate(std::byte* data) noexcept {
  if (data == nullptr) return;
  try {
    const detail::CurrentDevice on(*driver_, ordinal_);
    driver_->free(data);
  } catch (...) {  // the current device cannot be set: the context is gone, and its memory with it
  }
}

void Device::register_host(std::byte* host, std::size_t bytes) {
  usable();
  const detail::CurrentDevice on(*driver_, ordinal_);
  driver_->register_host(host, bytes);
}

void Device::unregister_host(std::byte* host) noexcept { driver_->unregister_host(host); }

std::unique_ptr<DeviceStream> Device::create_stream() {
  usable();
  return std::make_unique<DriverStream>(driver_, ordinal_);
}

std::shared_ptr<const detail::Fence> Device::fence(void* stream) {
  usable();
  const detail::CurrentDevice on(*driver_, ordinal_);
  auto f = std::make_shared<const detail::Fence>(driver_, driver_->create_event(true), ordinal_);
  driver_->record(f->event, stream);
  return f;
}

PointerInfo Device::pointer_info(const void* address) { return driver_->pointer_info(address); }

void Device::check_span(const DeviceSpan& span, const std::string& context) {
  if (span.size == 0) return;
  usable();
  const PointerInfo info = driver_->pointer_info(span.data);
  const std::string what = context + "device span " + hex(span.data) + " (" + std::to_string(span.size) + " bytes) on " +
                           name();
  if (info.kind == PointerInfo::Kind::host || info.kind == PointerInfo::Kind::registered_host) {
    throw ConfigError(what + " is host memory, not device memory: pass it as a host span");
  }
  if (info.device != ordinal_) {
    throw ConfigError(what + " is memory of " + driver_->device_name(info.device) +
                      ": name that device (wrap_device_pointer finds it)");
  }
  const std::size_t room = info.size - (reinterpret_cast<std::uintptr_t>(span.data) - info.base);
  if (span.size > room) {
    throw ConfigError(what + " runs past the end of its allocation (" + hex(reinterpret_cast<void*>(info.base)) + ", " +
                      std::to_string(info.size) + " bytes) by " + std::to_string(span.size - room) + " bytes");
  }
}

StagingLease Device::lease_staging(std::size_t bytes) {
  usable();
  StagingLease lease;
  lease.data_ = driver_->staging.take(*driver_, ordinal_, bytes, &lease.size_);
  lease.device_ = shared_from_this();
  return lease;
}

void Device::give_back(std::byte* data) noexcept { driver_->staging.give_back(*driver_, data); }

std::size_t Device::cached_staging_bytes() const { return driver_->staging.cached_bytes(); }

void Device::trim_staging() noexcept { driver_->staging.trim(*driver_); }

void Device::copy_to_device(DeviceSpan dst, const std::byte* host) {
  setup_copy(true, dst, const_cast<std::byte*>(host));
}

void Device::copy_to_host(std::byte* host, DeviceSpan src) { setup_copy(false, src, host); }

void Device::setup_copy(bool to_device, DeviceSpan span, std::byte* host) {
  if (span.size == 0) return;
  check_span(span, to_device ? "copy_to_device: " : "copy_to_host: ");
  const auto after = fence(span.stream);
  const StagingLease bounce = lease_staging(std::min(kBounceBytes, span.size));
  std::lock_guard lock(copier_->mutex);
  if (!copier_->stream) copier_->stream = create_stream();
  DeviceStream& s = *copier_->stream;
  s.order_after(*after);
  for (std::size_t done = 0; done < span.size;) {
    const std::size_t n = std::min(bounce.size(), span.size - done);
    if (to_device) {
      std::memcpy(bounce.data(), host + done, n);
      s.copy_to_device(span.data + done, bounce.data(), n);
      s.wait(s.record());
    } else {
      s.copy_to_host(bounce.data(), span.data + done, n);
      s.wait(s.record());
      std::memcpy(host + done, bounce.data(), n);
    }
    done += n;
  }
}

// --- DeviceBuffer ---------------------------------------------------------------------------

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

// --- opening devices ------------------------------------------------------------------------

bool cuda_built() noexcept { return detail::cuda_built(); }

int cuda_device_count(std::string* why_none) {
  if (!detail::cuda_built()) {
    if (why_none != nullptr) *why_none = detail::kNoCudaBuild;
    return 0;
  }
  return detail::cuda_driver()->device_count(why_none);
}

DeviceSpec parse_device_spec(std::string_view spec) {
  if (spec == "emulated") return {true, 0};
  if (spec == "cuda") return {false, 0};
  if (spec.starts_with("cuda:")) {
    const std::string_view digits = spec.substr(5);
    int index = -1;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (!digits.empty() && std::isdigit(static_cast<unsigned char>(digits.front())) && ec == std::errc{} &&
        end == digits.data() + digits.size()) {
      return {false, index};
    }
  }
  throw ConfigError("'" + std::string(spec) + "' is not cuda, cuda:N or emulated");
}

namespace {

// CUDA devices: one object per ordinal for the life of the process.
std::shared_ptr<Device> cuda_device(int index) {
  static std::mutex mutex;
  static auto* const devices = new std::vector<std::shared_ptr<Device>>();
  std::string why;
  const int count = cuda_device_count(&why);
  if (count == 0) throw ConfigError("CUDA: no device is visible (" + why + ")");
  if (index >= count) {
    throw ConfigError("CUDA: device " + std::to_string(index) + " does not exist (" + std::to_string(count) +
                      " visible: 0.." + std::to_string(count - 1) + ")");
  }
  std::lock_guard lock(mutex);
  if (devices->size() < static_cast<std::size_t>(count)) devices->resize(count);
  auto& d = (*devices)[index];
  if (!d) d = std::make_shared<CudaDeviceObject>(detail::cuda_driver(), index);
  return d;
}

}  // namespace

std::shared_ptr<Device> open_device(std::string_view spec) {
  DeviceSpec d;
  try {
    d = parse_device_spec(spec);
  } catch (const ConfigError& e) {
    throw ConfigError("device " + std::string(e.what()));
  }
  if (d.emulated) return make_emulated_device();
  if (!detail::cuda_built()) {
    throw ConfigError(std::string("CUDA: ") + detail::kNoCudaBuild);
  }
  return cuda_device(d.index);
}

WrappedDeviceMemory wrap_device_pointer(const void* address, std::size_t bytes, void* stream) {
  if (address == nullptr) throw ConfigError("wrap_device_pointer: the address is null");
  PointerInfo info;
  std::shared_ptr<Device> device = detail::emulated_device_holding(address, &info);
  if (!device && detail::cuda_built() && cuda_device_count() > 0) {
    info = detail::cuda_driver()->pointer_info(address);
    if (info.kind == PointerInfo::Kind::device || info.kind == PointerInfo::Kind::managed) {
      device = cuda_device(info.device);
    }
  }
  if (!device) {
    throw ConfigError("wrap_device_pointer: " + hex(address) + " is not device memory of any visible device" +
                      (info.kind == PointerInfo::Kind::registered_host ? " (it is registered host memory)" : ""));
  }
  WrappedDeviceMemory w{device, DeviceSpan{device.get(), static_cast<std::byte*>(const_cast<void*>(address)), bytes, stream}};
  device->check_span(w.span, "wrap_device_pointer: ");
  return w;
}

}  // namespace swapio
