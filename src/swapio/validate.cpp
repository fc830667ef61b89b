#include "swapio/validate.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "swapio/error.hpp"
#include "swapio/file.hpp"

namespace swapio {

void validate_file_range(std::span<const std::byte> expected, const std::string& path, std::uint64_t offset) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) throw_io_error(errno, "open for validation", path);
  constexpr std::size_t kChunk = 8u << 20;
  std::vector<std::byte> chunk(std::min(kChunk, expected.size()));
  for (std::size_t done = 0; done < expected.size();) {
    const std::size_t n = std::min(chunk.size(), expected.size() - done);
    pread_exact(fd.get(), chunk.data(), n, offset + done, path);
    if (std::memcmp(chunk.data(), expected.data() + done, n) != 0) {
      const auto mismatch = std::mismatch(chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n),
                                          expected.begin() + static_cast<std::ptrdiff_t>(done));
      const auto at = static_cast<std::size_t>(mismatch.first - chunk.begin());
      throw ValidationError(path, offset + done + at, done + at, static_cast<unsigned char>(*mismatch.second),
                            static_cast<unsigned char>(*mismatch.first));
    }
    done += n;
  }
}

}  // namespace swapio
