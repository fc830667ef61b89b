#include "swapio/buffer.hpp"

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <utility>

#include "swapio/detail/fork_guard.hpp"
#include "swapio/detail/huge_mapping.hpp"
#include "swapio/error.hpp"


namespace swapio {
namespace {

// Live HostBuffers by address, so that a transfer can tell swapio's own memory (physically
// contiguous in 2 MiB pieces) from memory it did not allocate.
struct Registry {
  std::shared_mutex mutex;
  std::map<std::uintptr_t, std::size_t> ranges;
};

Registry& registry();
std::shared_mutex* registry_mutex() { return &registry().mutex; }

Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: a static HostBuffer may outlive any static
  return *r;
}

// A worker registering its staging memory while another thread forks must not leave the child
// a registry it can never read. Set up at load time, before any thread can be inside it.
[[maybe_unused]] const bool registry_guarded = (registry(), detail::guard_across_fork<&registry_mutex>(), true);

void register_range(const std::byte* p, std::size_t n) {
  Registry& r = registry();
  std::unique_lock lock(r.mutex);
  r.ranges[reinterpret_cast<std::uintptr_t>(p)] = n;
}

void unregister_range(const std::byte* p) noexcept {
  Registry& r = registry();
  std::unique_lock lock(r.mutex);
  r.ranges.erase(reinterpret_cast<std::uintptr_t>(p));
}

}  // namespace

bool is_host_buffer_memory(const std::byte* p, std::size_t n) {
  if (p == nullptr) return false;
  Registry& r = registry();
  std::shared_lock lock(r.mutex);
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  auto it = r.ranges.upper_bound(addr);
  if (it == r.ranges.begin()) return false;
  --it;
  return addr - it->first <= it->second && n <= it->second - (addr - it->first);
}

std::string_view to_string(MemoryKind k) noexcept {
  switch (k) {
    case MemoryKind::aligned: return "aligned";
    case MemoryKind::pinned: return "pinned";
  }
  return "?";
}

static_assert(HostBuffer::kAlignment == detail::kHugePage, "HostBuffer memory is map_huge's");

HostBuffer::HostBuffer(std::size_t size, MemoryKind kind) : size_(size), kind_(kind) {
  if (size == 0) return;
  const std::size_t rounded = (size + kAlignment - 1) / kAlignment * kAlignment;
  const detail::HugeMapping m = detail::map_huge(rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, ::mmap);
  if (m.data == nullptr) throw_io_error(m.error, "mmap host buffer", "", 0, rounded + detail::kHugePage);
  data_ = static_cast<std::byte*>(m.data);
  mapped_ = rounded;
  huge_advised_ = m.huge_advised;
  if (kind == MemoryKind::pinned) {
    if (::mlock(data_, mapped_) != 0) {
      const int err = errno;
      std::string detail;
      struct rlimit lim {};
      if ((err == ENOMEM || err == EPERM) && ::getrlimit(RLIMIT_MEMLOCK, &lim) == 0 &&
          lim.rlim_cur != RLIM_INFINITY) {
        detail = "RLIMIT_MEMLOCK is " + format_bytes(lim.rlim_cur) +
                 "; raise it (ulimit -l, limits.conf) or run with CAP_IPC_LOCK";
      }
      release();
      throw_io_error(err, "mlock pinned buffer", "", 0, size, detail);
    }
    locked_ = true;
  }
  register_range(data_, mapped_);
}

HostBuffer::HostBuffer(HostBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapped_(std::exchange(other.mapped_, 0)),
      kind_(other.kind_),
      huge_advised_(std::exchange(other.huge_advised_, false)),
      locked_(std::exchange(other.locked_, false)) {}

HostBuffer& HostBuffer::operator=(HostBuffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapped_ = std::exchange(other.mapped_, 0);
    kind_ = other.kind_;
    huge_advised_ = std::exchange(other.huge_advised_, false);
    locked_ = std::exchange(other.locked_, false);
  }
  return *this;
}

HostBuffer::~HostBuffer() { release(); }

void HostBuffer::release() noexcept {
  if (data_ == nullptr) return;
  unregister_range(data_);
  if (locked_ && ::munlock(data_, mapped_) != 0) {
    std::fprintf(stderr, "swapio: munlock of a %zu-byte buffer failed: %s\n", mapped_, std::strerror(errno));
  }
  if (::munmap(data_, mapped_) != 0) {
    std::fprintf(stderr, "swapio: munmap of a %zu-byte buffer failed: %s\n", mapped_, std::strerror(errno));
  }
  data_ = nullptr;
  size_ = 0;
  mapped_ = 0;
  locked_ = false;
}

}  // namespace swapio
