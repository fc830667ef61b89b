// A DeviceStream on a driver's stream: tickets as events recorded on it (see driver_stream.hpp).
#include "swapio/detail/driver_stream.hpp"

#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

namespace swapio::detail {
namespace {

// A device's stream for one worker thread. Tickets are events (blocking, so waits sleep)
// recorded on it and recycled once passed. Every call sets the stream's device current and
// restores the caller's.
class DriverStream final : public DeviceStream {
 public:
  DriverStream(std::shared_ptr<Driver> driver, int ordinal) : driver_(std::move(driver)), ordinal_(ordinal) {
    const CurrentDevice on(*driver_, ordinal_);
    stream_ = driver_->create_stream();
  }
  ~DriverStream() override {
    drain();
    try {
      const CurrentDevice on(*driver_, ordinal_);
      for (auto& [ticket, event] : pending_) driver_->destroy_event(event);
      for (Driver::Event event : spare_) driver_->destroy_event(event);
      driver_->destroy_stream(stream_);
    } catch (...) {  // a lost device: nothing left to free
    }
  }

  void copy_to_device(std::byte* device, const std::byte* host, std::size_t bytes) override {
    if (bytes == 0) return;
    const CurrentDevice on(*driver_, ordinal_);
    driver_->copy_async(device, host, bytes, true, stream_);
  }
  void copy_to_host(std::byte* host, const std::byte* device, std::size_t bytes) override {
    if (bytes == 0) return;
    const CurrentDevice on(*driver_, ordinal_);
    driver_->copy_async(host, device, bytes, false, stream_);
  }
  void order_after(const Fence& fence) override {
    const CurrentDevice on(*driver_, ordinal_);
    driver_->stream_wait(stream_, fence.event);
  }
  std::uint64_t record() override {
    const CurrentDevice on(*driver_, ordinal_);
    Driver::Event event = nullptr;
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
    const CurrentDevice on(*driver_, ordinal_);
    for (; due(ticket); pop()) {
      if (!driver_->query(pending_.front().second)) return false;
    }
    return true;
  }
  void wait(std::uint64_t ticket) override {
    if (!due(ticket)) return;
    const CurrentDevice on(*driver_, ordinal_);
    for (; due(ticket); pop()) driver_->synchronize(pending_.front().second);
  }
  void drain() noexcept override { driver_->synchronize_stream(stream_); }

 private:
  bool due(std::uint64_t ticket) const { return !pending_.empty() && pending_.front().first <= ticket; }
  void pop() {
    spare_.push_back(pending_.front().second);
    pending_.pop_front();
  }

  std::shared_ptr<Driver> driver_;
  int ordinal_;
  Driver::Stream stream_ = nullptr;
  std::uint64_t recorded_ = 0;
  std::deque<std::pair<std::uint64_t, Driver::Event>> pending_;
  std::vector<Driver::Event> spare_;
};

}  // namespace

std::unique_ptr<DeviceStream> make_driver_stream(std::shared_ptr<Driver> driver, int ordinal) {
  return std::make_unique<DriverStream>(std::move(driver), ordinal);
}

}  // namespace swapio::detail
