// The emulated devices' streams and events (see emulated_streams.hpp): markers in copy queues.
#include "swapio/detail/emulated_streams.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

namespace swapio::detail {
namespace {

using EventRef = std::shared_ptr<EmuEvent>;

EventRef& event_ref(Driver::Event event) { return *static_cast<EventRef*>(event); }

// An event queued on `queue` that completes once everything queued before it has run.
EventRef mark(CopyQueue& queue) {
  auto e = std::make_shared<EmuEvent>();
  e->recorded = 1;
  queue.call([e] { e->complete(1); });
  return e;
}

}  // namespace

EmulatedStreams::EmulatedStreams(int count, const EmulatedDeviceOptions& o) {
  for (int i = 0; i < count; ++i) {
    auto& d = devices_.emplace_back(std::make_unique<PerDevice>());
    CopyQueueOptions q{o.min_delay_us, o.max_delay_us, o.seed + static_cast<std::uint64_t>(i)};
    d->dma = std::make_shared<CopyQueue>(q);
    d->legacy.ordinal = i;
    d->legacy.queue = std::make_shared<CopyQueue>();
    d->legacy.caller = true;
  }
}

void EmulatedStreams::drain() noexcept {
  for (auto& d : devices_) {
    d->dma->release();
    d->dma->synchronize();
    d->legacy.queue->synchronize();
    for (auto& s : d->callers) s->queue->synchronize();
  }
}

Driver::Stream EmulatedStreams::create(int ordinal) {
  auto s = std::make_unique<EmuStream>();
  s->ordinal = ordinal;
  s->queue = devices_[ordinal]->dma;
  std::lock_guard lock(mutex_);
  ++streams_created_;
  Driver::Stream handle = s.get();
  streams_.emplace(handle, std::move(s));
  return handle;
}

void EmulatedStreams::destroy(Driver::Stream stream) noexcept {
  std::lock_guard lock(mutex_);
  streams_.erase(stream);
}

EmuStream* EmulatedStreams::find(Driver::Stream stream) {
  std::lock_guard lock(mutex_);
  if (auto it = streams_.find(stream); it != streams_.end()) return it->second.get();
  EmuStream* s = nullptr;
  for (auto& d : devices_) {
    for (auto& c : d->callers) {
      if (c.get() == stream) s = c.get();
    }
  }
  return s;
}

void* EmulatedStreams::create_caller(int ordinal, bool blocking) {
  auto s = std::make_unique<EmuStream>();
  s->ordinal = ordinal;
  s->queue = std::make_shared<CopyQueue>();
  s->caller = true;
  s->blocking = blocking;
  std::lock_guard lock(mutex_);
  void* handle = s.get();
  devices_[ordinal]->callers.push_back(std::move(s));
  return handle;
}

EmuStream* EmulatedStreams::caller(int ordinal, void* stream) {
  if (stream == nullptr) return &devices_[ordinal]->legacy;
  std::lock_guard lock(mutex_);
  for (auto& c : devices_[ordinal]->callers) {
    if (c.get() == stream) return c.get();
  }
  return nullptr;
}

void EmulatedStreams::copy(EmuStream& s, std::byte* dst, const std::byte* src, std::size_t bytes,
                           std::shared_ptr<HostBuffer> keep) {
  s.queue->copy(dst, src, bytes);
  s.queue->call([keep = std::move(keep)] {});
}

void EmulatedStreams::write_later(EmuStream& s, std::byte* target, std::shared_ptr<HostBuffer> keep,
                                  std::vector<std::byte> bytes, std::uint32_t delay_us) {
  s.queue->call([target, keep = std::move(keep), bytes = std::move(bytes), delay_us] {
    if (delay_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
    std::memcpy(target, bytes.data(), bytes.size());
  });
}

Driver::Event EmulatedStreams::create_event(bool blocking_sync) {
  auto* e = new EventRef(std::make_shared<EmuEvent>());
  (*e)->blocking = blocking_sync;
  return e;
}

void EmulatedStreams::destroy_event(Driver::Event event) noexcept { delete static_cast<EventRef*>(event); }

void EmulatedStreams::record(Driver::Event event, EmuStream& s, bool legacy_default) {
  const EventRef e = event_ref(event);
  std::uint64_t gen = 0;
  {
    std::lock_guard lock(e->mutex);
    gen = ++e->recorded;
  }
  if (legacy_default) {
    std::lock_guard lock(mutex_);
    for (auto& c : devices_[s.ordinal]->callers) {
      if (!c->blocking) continue;
      const EventRef sub = mark(*c->queue);
      s.queue->call([sub] { sub->block_until(1); });
    }
  }
  s.queue->call([e, gen] { e->complete(gen); });
}

bool EmulatedStreams::query(Driver::Event event) {
  const EventRef& e = event_ref(event);
  std::lock_guard lock(e->mutex);
  return e->completed >= e->recorded;
}

void EmulatedStreams::synchronize(Driver::Event event) {
  const EventRef e = event_ref(event);
  std::uint64_t gen = 0;
  {
    std::lock_guard lock(e->mutex);
    gen = e->recorded;
    if (e->completed >= gen) return;
  }
  if (e->blocking) {
    ++blocking_waits_;
    e->block_until(gen);
  } else {
    ++spinning_waits_;
    while (!e->reached(gen)) std::this_thread::yield();
  }
}

void EmulatedStreams::wait(EmuStream& s, Driver::Event event) {
  const EventRef e = event_ref(event);
  std::uint64_t gen = 0;
  {
    std::lock_guard lock(e->mutex);
    gen = e->recorded;
  }
  if (gen == 0) return;
  s.queue->call([e, gen] { e->block_until(gen); });
}

void EmulatedStreams::synchronize_stream(EmuStream& s) noexcept {
  try {
    mark(*s.queue)->block_until(1);
  } catch (...) {  // no memory for a marker: wait for the whole queue instead
    s.queue->synchronize();
  }
}

void EmulatedStreams::synchronize_caller(EmuStream& s) { mark(*s.queue)->block_until(1); }

}  // namespace swapio::detail
