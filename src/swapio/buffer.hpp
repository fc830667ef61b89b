// Host buffers that DMA well: 2 MiB-aligned, huge-page-advised and prefaulted, so that a
// 1 MiB request is a handful of physical segments instead of 256 scattered pages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace swapio {

enum class MemoryKind {
  aligned,  // 2 MiB-aligned, MADV_HUGEPAGE, prefaulted
  pinned,   // the same, and page-locked (mlock): counts against RLIMIT_MEMLOCK unless root
};

std::string_view to_string(MemoryKind k) noexcept;

// A move-only owner of an anonymous mapping. size() is what was asked for; the mapping is
// rounded up to whole 2 MiB pieces. Freed (and unlocked) by the destructor, which never throws.
class HostBuffer {
 public:
  static constexpr std::size_t kAlignment = 2u * 1024 * 1024;

  HostBuffer() noexcept = default;
  // Throws swapio::Error naming the size (and RLIMIT_MEMLOCK for a refused mlock).
  explicit HostBuffer(std::size_t size, MemoryKind kind = MemoryKind::aligned);
  HostBuffer(HostBuffer&& other) noexcept;
  HostBuffer& operator=(HostBuffer&& other) noexcept;
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  ~HostBuffer();

  std::byte* data() noexcept { return data_; }
  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  MemoryKind kind() const noexcept { return kind_; }
  // Whether the kernel accepted the huge-page advice (THP "madvise" or "always" mode).
  bool huge_pages_advised() const noexcept { return huge_advised_; }
  std::span<std::byte> span() noexcept { return {data_, size_}; }
  std::span<const std::byte> span() const noexcept { return {data_, size_}; }

 private:
  void release() noexcept;

  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t mapped_ = 0;
  MemoryKind kind_ = MemoryKind::aligned;
  bool huge_advised_ = false;
  bool locked_ = false;
};

// Whether [p, p+n) lies inside one live HostBuffer (memory swapio laid out for DMA).
bool is_host_buffer_memory(const std::byte* p, std::size_t n);

}  // namespace swapio
