// The Device class: one GPU of a driver (allocation, registration, streams, fences, the staging
// cache's leases, blocking setup copies), refused after fork() or a sticky error; and DeviceBuffer.
#include "swapio/device.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>

#include "swapio/detail/driver.hpp"
#include "swapio/detail/driver_stream.hpp"
#include "swapio/detail/gds.hpp"
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

constexpr std::size_t kBounceBytes = std::size_t{8} << 20;

}  // namespace

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
  auto* data = static_cast<std::byte*>(driver_->allocate(bytes));
  detail::gds_note_allocation(data, bytes);
  return data;
}

void Device::deallocate(std::byte* data) noexcept {
  if (data == nullptr) return;
  try {
    const detail::CurrentDevice on(*driver_, ordinal_);
    detail::gds_forget_allocation(data);  // cuFile lets go of it before it is freed
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
  return detail::make_driver_stream(driver_, ordinal_);
}

std::shared_ptr<const detail::Fence> Device::fence(void* stream) {
  usable();
  const detail::CurrentDevice on(*driver_, ordinal_);
  auto f = std::make_shared<const detail::Fence>(driver_, driver_->create_event(true), ordinal_);
  driver_->record(f->event, stream);
  return f;
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

}  // namespace swapio
