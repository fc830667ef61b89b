// Writes 4 MiB through a Handle and reads them back into another buffer: exit 0 when every byte
// matches, 1 (with the reason) otherwise.
#include <cstdio>
#include <cstring>
#include <exception>

#include "swapio/swapio.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer FILE\n");
    return 2;
  }
  try {
    constexpr std::size_t kSize = 4u << 20;
    swapio::HostBuffer out(kSize), in(kSize);
    for (std::size_t i = 0; i < kSize; ++i) out.data()[i] = static_cast<std::byte>((i * 131 + 7) & 0xff);
    swapio::Handle handle(swapio::Config{});
    handle.pwrite(out.span(), argv[1]);
    handle.pread(in.span(), argv[1]);
    if (std::memcmp(out.data(), in.data(), kSize) != 0) {
      std::fprintf(stderr, "consumer: the bytes read back differ from those written\n");
      return 1;
    }
    std::printf("consumer: %zu bytes written and read back through swapio\n", kSize);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 1;
  }
}
