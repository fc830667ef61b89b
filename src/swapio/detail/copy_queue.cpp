#include "swapio/detail/copy_queue.hpp"

#include <chrono>
#include <cstring>

namespace swapio::detail {

CopyQueue::CopyQueue(const CopyQueueOptions& options)
    : options_(options), rng_(options.seed), thread_([this] { serve(); }) {
  if (options_.max_delay_us < options_.min_delay_us) options_.max_delay_us = options_.min_delay_us;
}

CopyQueue::~CopyQueue() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    held_ = false;
  }
  cv_.notify_all();
  thread_.join();
}

void CopyQueue::copy(std::byte* dst, const std::byte* src, std::size_t bytes) {
  push(Command{nullptr, dst, src, bytes, 0, {}});
}

void CopyQueue::call(std::function<void()> fn) { push(Command{nullptr, nullptr, nullptr, 0, 0, std::move(fn)}); }

void CopyQueue::mark(QueuedStream& stream, std::uint64_t ticket) { push(Command{&stream, nullptr, nullptr, 0, ticket, {}}); }

void CopyQueue::hold() {
  std::lock_guard lock(mutex_);
  held_ = true;
}

void CopyQueue::release() {
  {
    std::lock_guard lock(mutex_);
    held_ = false;
  }
  cv_.notify_all();
}

void CopyQueue::synchronize() noexcept {
  std::unique_lock lock(mutex_);
  idle_cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
}

CopyQueue::Stats CopyQueue::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void CopyQueue::push(const Command& c) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(c);
  }
  cv_.notify_all();
}

void CopyQueue::serve() {
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || (!held_ && !queue_.empty()); });
    if (queue_.empty()) return;  // stopping, and nothing left
    const Command c = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    if (c.fn) {
      lock.unlock();
      c.fn();
      lock.lock();
      busy_ = false;
      if (queue_.empty()) idle_cv_.notify_all();
      continue;
    }
    std::uint32_t delay = 0;
    if (c.stream == nullptr && options_.max_delay_us > 0) {
      delay = std::uniform_int_distribution<std::uint32_t>(options_.min_delay_us, options_.max_delay_us)(rng_);
    }
    lock.unlock();
    std::uint64_t copy_ns = 0;
    if (c.stream != nullptr) {
      c.stream->complete(c.ticket);
    } else {
      if (delay > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay));
      const auto t0 = std::chrono::steady_clock::now();
      std::memcpy(c.dst, c.src, c.bytes);
      copy_ns = static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
    }
    lock.lock();
    if (c.stream == nullptr) {
      ++stats_.copies;
      stats_.bytes += c.bytes;
      stats_.seconds += static_cast<double>(copy_ns) / 1e9;
    }
    busy_ = false;
    if (queue_.empty()) idle_cv_.notify_all();
  }
}

QueuedStream::QueuedStream(std::shared_ptr<CopyQueue> queue, Translate translate)
    : queue_(std::move(queue)), translate_(std::move(translate)) {}

void QueuedStream::copy_to_device(std::byte* device, const std::byte* host, std::size_t bytes) {
  if (bytes == 0) return;
  queue_->copy(translate_ ? translate_(device, bytes, "copy to") : device, host, bytes);
}

void QueuedStream::copy_to_host(std::byte* host, const std::byte* device, std::size_t bytes) {
  if (bytes == 0) return;
  queue_->copy(host, translate_ ? translate_(device, bytes, "copy from") : device, bytes);
}

std::uint64_t QueuedStream::record() {
  const std::uint64_t ticket = ++recorded_;
  queue_->mark(*this, ticket);
  return ticket;
}

bool QueuedStream::done(std::uint64_t ticket) {
  std::lock_guard lock(mutex_);
  return completed_ >= ticket;
}

void QueuedStream::wait(std::uint64_t ticket) {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return completed_ >= ticket; });
}

void QueuedStream::drain() noexcept {
  try {
    wait(record());
  } catch (...) {
    queue_->synchronize();  // no memory for a marker: wait for the whole queue instead
  }
}

void QueuedStream::complete(std::uint64_t ticket) {
  // Notify under the lock: a waiter that wakes may destroy the stream right after.
  std::lock_guard lock(mutex_);
  completed_ = ticket;
  cv_.notify_all();
}

std::unique_ptr<DeviceStream> make_host_copy_stream() {
  return std::make_unique<QueuedStream>(std::make_shared<CopyQueue>());
}

}  // namespace swapio::detail
