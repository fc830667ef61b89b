// The staging cache (StagingCache, declared in driver.hpp): registered host memory a driver's
// devices reuse across ops, and the leases (StagingLease) that lend it out.
#include <algorithm>
#include <bit>
#include <mutex>
#include <utility>

#include "swapio/detail/driver.hpp"

namespace swapio {
namespace detail {
namespace {

constexpr std::size_t kMinStaging = std::size_t{2} << 20;

}  // namespace

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

}  // namespace swapio
