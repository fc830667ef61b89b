// swapio's data pattern: what bench writes and what a read's validation checks every byte of.
#include <gtest/gtest.h>

#include <vector>

#include "support.hpp"
#include "swapio/buffer.hpp"
#include "swapio/device.hpp"
#include "swapio/error.hpp"
#include "swapio/validate.hpp"

namespace swapio::test {
namespace {

std::vector<std::byte> pattern(std::size_t n, std::uint64_t seed, std::uint64_t offset = 0) {
  std::vector<std::byte> v(n);
  swapio::fill_pattern(v, seed, offset);
  return v;
}

std::string validation_error(TensorSpan data, std::uint64_t seed, const std::string& path) {
  try {
    verify_pattern(data, seed, path, 0);
  } catch (const ValidationError& e) {
    return e.what();
  }
  return "";
}

TEST(Pattern, AnyPieceIsTheSameAsTheWhole) {
  const std::vector<std::byte> whole = pattern(3 * kPatternBlock + 13, 7);
  std::vector<std::byte> pieces(whole.size());
  // Pieces at odd offsets and of odd lengths, across block headers and the word-wise tail.
  for (std::size_t at = 0, len = 1; at < pieces.size(); at += len, len = len * 3 + 5) {
    const std::size_t n = std::min(len, pieces.size() - at);
    swapio::fill_pattern(std::span(pieces).subspan(at, n), 7, at);
  }
  EXPECT_EQ(pieces, whole);
  EXPECT_NE(pattern(4096, 8), pattern(4096, 7)) << "the seed does not change the content";
  EXPECT_NE(std::vector(whole.begin() + 16, whole.begin() + 4096), std::vector(whole.begin() + 4096 + 16, whole.begin() + 8192))
      << "two blocks hold the same bytes";
}

TEST(Pattern, ItsSeedIsFoundEvenWhenOneHeaderIsDamaged) {
  std::vector<std::byte> v = pattern(64 * kPatternBlock, 42);
  EXPECT_EQ(find_pattern_seed(std::span<const std::byte>(v), 0), 42u);
  v[3] = std::byte{0};  // the first block's header
  EXPECT_EQ(find_pattern_seed(std::span<const std::byte>(v), 0), 42u);
  // Data from a file offset inside a block: its whole blocks are found.
  const std::vector<std::byte> tail = pattern(5 * kPatternBlock, 9, 1000);
  EXPECT_EQ(find_pattern_seed(std::span<const std::byte>(tail), 1000), 9u);
  EXPECT_EQ(find_pattern_seed(std::span<const std::byte>(pattern(100, 3)), 0), 3u) << "a file smaller than a block";
  EXPECT_FALSE(find_pattern_seed(std::span<const std::byte>(pattern(15, 3)), 0).has_value()) << "no whole header";
  EXPECT_FALSE(find_pattern_seed(std::span<const std::byte>(pattern(kPatternBlock, 3, 8)), 8).has_value())
      << "no header inside the data";
  std::vector<std::byte> other(8 * kPatternBlock, std::byte{0x5a});
  EXPECT_FALSE(find_pattern_seed(std::span<const std::byte>(other), 0).has_value());
}

TEST(Pattern, VerifyNamesTheOffsetAndWhetherTheFileOrTheReadIsWrong) {
  TempDir dir;
  const std::string path = dir.file("p");
  std::vector<std::byte> data = pattern(2 * kPatternBlock + 5, 4);
  write_plain(path, data);
  EXPECT_EQ(validation_error(std::span<const std::byte>(data), 4, path), "");

  data[5000] ^= std::byte{0xff};  // memory wrong, the file right
  std::string e = validation_error(std::span<const std::byte>(data), 4, path);
  EXPECT_NE(e.find("at file offset 5000"), std::string::npos) << e;
  EXPECT_NE(e.find("the read was wrong"), std::string::npos) << e;

  write_plain(path, data);  // both wrong: the data on storage differs
  e = validation_error(std::span<const std::byte>(data), 4, path);
  EXPECT_NE(e.find("the data on storage differs"), std::string::npos) << e;

  data = pattern(2 * kPatternBlock + 5, 4);
  data.back() ^= std::byte{1};  // the last, partial word
  e = validation_error(std::span<const std::byte>(data), 4, path);
  EXPECT_NE(e.find("at file offset " + std::to_string(data.size() - 1)), std::string::npos) << e;
}

TEST(Pattern, DeviceMemoryIsCheckedThroughCopiesBack) {
  TempDir dir;
  const std::string path = dir.file("d");
  std::vector<std::byte> host = pattern(19 << 20, 11);  // more than one 8 MiB piece copied back
  write_plain(path, host);
  auto device = make_emulated_device();
  DeviceBuffer buf(device, host.size());
  device->copy_to_device(buf.span(), host.data());
  EXPECT_EQ(find_pattern_seed(buf.span(), 0), 11u);
  EXPECT_EQ(validation_error(buf.span(), 11, path), "");
  host[(17 << 20) + 3] ^= std::byte{0x10};  // in the third piece
  device->copy_to_device(buf.span(), host.data());
  const std::string e = validation_error(buf.span(), 11, path);
  EXPECT_NE(e.find("at file offset " + std::to_string((17 << 20) + 3)), std::string::npos) << e;
}

}  // namespace
}  // namespace swapio::test
