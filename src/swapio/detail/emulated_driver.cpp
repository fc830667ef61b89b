// The host emulation of CUDA's driver (driver.hpp): the seam's calls, checked and worded as CUDA's.
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
#include "swapio/detail/emulated_driver.hpp"

#include <cerrno>

#include "swapio/error.hpp"

namespace swapio::detail {
namespace {

thread_local int t_current = 0;

}  // namespace

int EmulatedDriver::current_ordinal() noexcept { return t_current; }
void EmulatedDriver::make_current(int ordinal) noexcept { t_current = ordinal; }

EmulatedDriver::EmulatedDriver(int count, const EmulatedDeviceOptions& options)
    : count_(count), names_single_(count == 1), memory_(count), streams_(count, options),
      lost_(static_cast<std::size_t>(count)) {}

EmulatedDriver::~EmulatedDriver() {
  staging.trim(*this);
  streams_.drain();
}

std::string EmulatedDriver::device_name(int ordinal) const {
  return names_single_ ? "emulated" : "emulated:" + std::to_string(ordinal);
}

void EmulatedDriver::set_current_device(int ordinal) {
  if (ordinal < 0) fail(-1, "cudaSetDevice", "cudaErrorInvalidDevice");
  t_current = ordinal;
}

void* EmulatedDriver::allocate(std::size_t bytes) {
  const int ordinal = current("cudaMalloc");
  return memory_.allocate(ordinal, bytes, device_name(ordinal));
}

void EmulatedDriver::free(void* data) noexcept {
  const int ordinal = memory_.owner(data);
  if (ordinal < 0) return;
  streams_.dma(ordinal).synchronize();  // as cudaFree does: no copy may still use it
  memory_.release(data);
}

void EmulatedDriver::register_host(void* host, std::size_t bytes) {
  if (host == nullptr || bytes == 0) throw ConfigError("register_host: empty host range");
  if (memory_.find(host, bytes, nullptr) != nullptr) throw ConfigError("register_host: the range is device memory");
  (void)current("cudaHostRegister");  // CUDA maps it for the current device's context
  memory_.register_host(host, bytes);
}

Driver::Stream EmulatedDriver::create_stream() { return streams_.create(current("cudaStreamCreate")); }

void EmulatedDriver::copy_async(void* dst, const void* src, std::size_t bytes, bool to_device, Stream stream) {
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
  if (!memory_.registered(to_device ? src : dst, bytes)) ++pageable_copies_;
  EmulatedStreams::copy(s, d, h, bytes, std::move(keep));
}

Driver::Event EmulatedDriver::create_event(bool blocking_sync) {
  (void)current("cudaEventCreate");
  return EmulatedStreams::create_event(blocking_sync);
}

void EmulatedDriver::record(Event event, Stream stream) {
  EmuStream& s = resolve(stream, "cudaEventRecord");
  streams_.record(event, s, stream == nullptr);
}

void EmulatedDriver::stream_wait(Stream stream, Event event) {
  EmulatedStreams::wait(resolve(stream, "cudaStreamWaitEvent", false), event);
}

void EmulatedDriver::synchronize_stream(Stream stream) noexcept {
  EmuStream* s = nullptr;
  try {
    s = &resolve(stream, "cudaStreamSynchronize", false);
  } catch (...) {
    return;
  }
  EmulatedStreams::synchronize_stream(*s);
}

std::string EmulatedDriver::lost(int ordinal) const {
  std::lock_guard lock(lost_mutex_);
  return ordinal >= 0 && static_cast<std::size_t>(ordinal) < lost_.size() ? lost_[ordinal] : "";
}

EmulatedDevice::DriverCounters EmulatedDriver::counters() const {
  return {memory_.registrations(), streams_.streams_created(), streams_.blocking_waits(), streams_.spinning_waits(),
          pageable_copies_.load()};
}

void EmulatedDriver::launch_write(int ordinal, void* stream, const DeviceSpan& dst, std::vector<std::byte> bytes,
                                  std::uint32_t delay_us) {
  EmuStream& s = caller_stream(ordinal, stream);
  std::shared_ptr<HostBuffer> keep;
  std::byte* target = translate(dst.data, bytes.size(), "kernel write to", &keep);
  EmulatedStreams::write_later(s, target, std::move(keep), std::move(bytes), delay_us);
}

void EmulatedDriver::synchronize_caller(int ordinal, void* stream) {
  EmulatedStreams::synchronize_caller(caller_stream(ordinal, stream));
}

void EmulatedDriver::lose(int ordinal, const std::string& why) {
  std::lock_guard lock(lost_mutex_);
  lost_[ordinal] = why;
}

void EmulatedDriver::fail(int ordinal, const char* op, const std::string& why) const {
  throw_io_error(EIO, op, ordinal >= 0 ? device_name(ordinal) : "emulated", 0, 0, why + " (emulated)");
}

int EmulatedDriver::current(const char* op) const {
  const int ordinal = t_current;
  if (ordinal < 0 || ordinal >= count_) {
    fail(ordinal, op, "cudaErrorInvalidDevice: the current device (" + std::to_string(ordinal) + ") is not a device of this driver");
  }
  const std::string why = lost(ordinal);
  if (!why.empty()) fail(ordinal, op, why);
  return ordinal;
}

EmuStream& EmulatedDriver::resolve(Stream stream, const char* op, bool same_device) {
  if (stream == nullptr) return streams_.legacy(current(op));
  EmuStream* s = streams_.find(stream);
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

EmuStream& EmulatedDriver::caller_stream(int ordinal, void* stream) {
  EmuStream* s = streams_.caller(ordinal, stream);
  if (s == nullptr) {
    throw ConfigError("stream " + std::to_string(reinterpret_cast<std::uintptr_t>(stream)) + " is not a stream of " +
                      device_name(ordinal));
  }
  return *s;
}

std::byte* EmulatedDriver::translate(const void* device, std::size_t bytes, const char* what,
                                     std::shared_ptr<HostBuffer>* keep) const {
  std::byte* p = memory_.find(device, bytes, keep);
  if (p == nullptr) {
    throw_io_error(EFAULT, std::string(what) + " emulated device", device_name(t_current),
                   reinterpret_cast<std::uintptr_t>(device), bytes, "not inside one allocation of this device");
  }
  return p;
}

}  // namespace swapio::detail
