// A writer for the durability tests: writes SIZE bytes of the test pattern SEED to PATH in
// 64 KiB requests with every completion held back 5 ms, prints "writing" once 16 requests have
// gone (so that a test can kill it mid-write), and "done" when the write returned.
//   swapio_slow_writer PATH SIZE SEED in-place|replace
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>

#include "support.hpp"
#include "swapio/fault.hpp"
#include "swapio/swapio.hpp"

int main(int argc, char** argv) {
  using namespace swapio;
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s PATH SIZE SEED in-place|replace\n", argv[0]);
    return 2;
  }
  try {
    const std::string path = argv[1], mode = argv[4];
    if (mode != "in-place" && mode != "replace") throw ConfigError("mode '" + mode + "' is not in-place or replace");
    HostBuffer buf(parse_size(argv[2]));
    test::fill_pattern(buf.span(), 0, std::strtoull(argv[3], nullptr, 10));
    Config c;
    c.block_size = 64 * 1024;
    c.queue_depth = 2;
    c.atomic_replace = mode == "replace";
    FaultRule slow;
    slow.kind = FaultKind::delay;
    slow.delay = std::chrono::milliseconds(5);
    slow.count = 0;
    FaultRule signal;
    signal.kind = FaultKind::call;
    signal.first = 16;
    signal.action = [] {
      std::fputs("writing\n", stdout);
      std::fflush(stdout);
    };
    c.faults = std::make_shared<FaultInjector>(std::vector<FaultRule>{signal, slow});
    write_file(buf.span(), path, c);
    std::puts("done");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "swapio_slow_writer: %s\n", e.what());
    return 1;
  }
}
