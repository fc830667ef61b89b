#include "swapio/validate.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
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

}  // namespace

void validate_tensor(TensorSpan expected, const std::string& path, std::uint64_t offset) {
  detail::check_tensor(Direction::write, expected, offset, "validation of " + path + ": ");
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) throw_io_error(errno, "open for validation", path);
  std::vector<std::byte> chunk(std::min(kChunk, expected.size()));
  if (!expected.on_device()) {
    compare(fd.get(), {expected.data(), expected.size()}, path, offset, 0, chunk);
    return;
  }
  // Device memory: copied back to the host piece by piece.
  std::vector<std::byte> host(chunk.size());
  for (std::size_t done = 0; done < expected.size();) {
    const std::size_t n = std::min(host.size(), expected.size() - done);
    expected.device()->copy_to_host(host.data(), DeviceSpan{expected.device(), expected.data() + done, n});
    compare(fd.get(), {host.data(), n}, path, offset + done, done, chunk);
    done += n;
  }
}

}  // namespace swapio
