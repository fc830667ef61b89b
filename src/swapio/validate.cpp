#include "swapio/validate.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "swapio/detail/checks.hpp"
#include "swapio/error.hpp"
#include "swapio/file.hpp"

namespace swapio {
namespace {

// Compares expected (bytes buffer_base.. of the caller's buffer) with the file at offset.
void compare(int fd, std::span<const std::byte> expected, const std::string& path, std::uint64_t offset,
             std::uint64_t buffer_base, std::vector<std::byte>& chunk) {
  for (std::size_t done = 0; done < expected.size();) {
    const std::size_t n = std::min(chunk.size(), expected.size() - done);
    pread_exact(fd, chunk.data(), n, offset + done, path);
    if (std::memcmp(chunk.data(), expected.data() + done, n) != 0) {
      const auto mismatch = std::mismatch(chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n),
                                          expected.begin() + static_cast<std::ptrdiff_t>(done));
      const auto at = static_cast<std::size_t>(mismatch.first - chunk.begin());
      throw ValidationError(path, offset + done + at, buffer_base + done + at,
                            static_cast<unsigned char>(*mismatch.second), static_cast<unsigned char>(*mismatch.first));
    }
    done += n;
  }
}

constexpr std::size_t kChunk = 8u << 20;

// Validation against fd (open for reading, buffered), named path in errors.
void validate_open(TensorSpan expected, int fd, const std::string& path, std::uint64_t offset) {
  std::vector<std::byte> chunk(std::min(kChunk, expected.size()));
  if (!expected.on_device()) {
    compare(fd, {expected.data(), expected.size()}, path, offset, 0, chunk);
    return;
  }
  // Device memory: copied back to the host piece by piece.
  std::vector<std::byte> host(chunk.size());
  for (std::size_t done = 0; done < expected.size();) {
    const std::size_t n = std::min(host.size(), expected.size() - done);
    expected.device()->copy_to_host(host.data(), DeviceSpan{expected.device(), expected.data() + done, n});
    compare(fd, {host.data(), n}, path, offset + done, done, chunk);
    done += n;
  }
}

}  // namespace

void validate_tensor(TensorSpan expected, const std::string& path, std::uint64_t offset, const std::string& shown_as) {
  const std::string& shown = shown_as.empty() ? path : shown_as;
  check_path(path);
  detail::check_tensor(Direction::write, expected, offset, "validation of " + shown + ": ");
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) throw_io_error(errno, "open for validation", shown);
  validate_open(expected, fd.get(), shown, offset);
}

}  // namespace swapio

namespace swapio {
namespace {

constexpr std::uint64_t kPatternMagic = 0x703a6f6970617773ull;  // "swapio:p", little-endian

std::uint64_t pattern_word(std::uint64_t seed, std::uint64_t word_offset) {
  const std::uint64_t in_block = word_offset % kPatternBlock;
  if (in_block == 0) return kPatternMagic;
  if (in_block == 8) return seed;
  std::uint64_t z = seed * 0x9e3779b97f4a7c15ull + word_offset;  // splitmix64's finalizer
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::uint64_t load_le(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

// Byte i of the little-endian word.
std::byte word_byte(std::uint64_t word, std::uint64_t i) { return static_cast<std::byte>(word >> (8 * i)); }

// The word's 8 bytes in file order.
void store_le(std::byte* p, std::uint64_t word) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(p, &word, 8);
  } else {
    for (std::uint64_t b = 0; b < 8; ++b) p[b] = word_byte(word, b);
  }
}

// The first index where data (file bytes from file_offset) differs from the pattern, or size():
// compared a block at a time with what fill_pattern makes of the same offsets.
std::size_t first_difference(std::span<const std::byte> data, std::uint64_t seed, std::uint64_t file_offset) {
  std::byte expect[kPatternBlock];
  for (std::size_t i = 0; i < data.size(); i += sizeof expect) {
    const std::size_t n = std::min(sizeof expect, data.size() - i);
    fill_pattern({expect, n}, seed, file_offset + i);
    if (std::memcmp(expect, data.data() + i, n) != 0) {
      return i + static_cast<std::size_t>(std::mismatch(expect, expect + n, data.data() + i).first - expect);
    }
  }
  return data.size();
}

// Runs fn(host bytes, index in data) over data in host pieces (device memory copied back).
template <typename Fn>
void for_each_host_piece(TensorSpan data, std::size_t begin, std::size_t end, Fn&& fn) {
  if (!data.on_device()) {
    fn(std::span<const std::byte>(data.data() + begin, end - begin), begin);
    return;
  }
  std::vector<std::byte> host(std::min(kChunk, end - begin));
  for (std::size_t done = begin; done < end;) {
    const std::size_t n = std::min(host.size(), end - done);
    data.device()->copy_to_host(host.data(), DeviceSpan{data.device(), data.data() + done, n});
    if (!fn(std::span<const std::byte>(host.data(), n), done)) return;
    done += n;
  }
}

}  // namespace

void fill_pattern(std::span<std::byte> out, std::uint64_t seed, std::uint64_t file_offset) {
  std::size_t i = 0;
  while (i < out.size()) {
    const std::uint64_t at = file_offset + i;
    const std::uint64_t word_at = at & ~std::uint64_t{7};
    const std::uint64_t word = pattern_word(seed, word_at);
    if (at == word_at && i + 8 <= out.size()) {
      store_le(out.data() + i, word);
      i += 8;
      continue;
    }
    out[i] = word_byte(word, at - word_at);
    ++i;
  }
}

std::optional<std::uint64_t> find_pattern_seed(TensorSpan data, std::uint64_t file_offset) {
  // The blocks of the file whose 16-byte header lies inside data: [first, last].
  const std::uint64_t first = (file_offset + kPatternBlock - 1) / kPatternBlock;
  const std::uint64_t end = file_offset + data.size();
  if (end < 16 || (end - 16) / kPatternBlock < first) return std::nullopt;
  const std::uint64_t last = (end - 16) / kPatternBlock;
  for (const std::uint64_t block : {first, first + (last - first) / 2, last}) {
    const auto at = static_cast<std::size_t>(block * kPatternBlock - file_offset);
    std::optional<std::uint64_t> seed;
    for_each_host_piece(data, at, at + 16, [&](std::span<const std::byte> h, std::size_t) {
      if (load_le(h.data()) == kPatternMagic) seed = load_le(h.data() + 8);
      return true;
    });
    if (seed) return seed;
  }
  return std::nullopt;
}

void verify_pattern(TensorSpan data, std::uint64_t seed, const std::string& path, std::uint64_t file_offset) {
  std::optional<std::size_t> bad;
  unsigned char found = 0;
  for_each_host_piece(data, 0, data.size(), [&](std::span<const std::byte> h, std::size_t base) {
    const std::size_t at = first_difference(h, seed, file_offset + base);
    if (at == h.size()) return true;
    bad = base + at;
    found = static_cast<unsigned char>(h[at]);
    return false;
  });
  if (!bad) return;
  const std::uint64_t offset = file_offset + *bad;
  const auto expected = static_cast<unsigned char>(word_byte(pattern_word(seed, offset & ~std::uint64_t{7}), offset & 7));
  std::string storage;
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  std::byte on_file{};
  if (fd.valid() && ::pread(fd.get(), &on_file, 1, static_cast<off_t>(offset)) == 1) {
    const auto f = static_cast<unsigned char>(on_file);
    char text[96];
    std::snprintf(text, sizeof text, "; the file holds 0x%02x there (%s)", f,
                  f == expected ? "the read was wrong" : "the data on storage differs");
    storage = text;
  } else {
    storage = "; the file could not be read there again";
  }
  char head[96];
  std::snprintf(head, sizeof head, ": expected 0x%02x, read 0x%02x", expected, found);
  throw ValidationError("validation of " + path + " failed: first difference from swapio's pattern (seed " +
                            std::to_string(seed) + ") at file offset " + std::to_string(offset) + head + storage,
                        offset, *bad);
}

}  // namespace swapio
