// The reports the command writes: a bench report's memory layout warning and line, and a report
// file written whole or not at all.
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "bench/bench_phase.hpp"
#include "common/report_text.hpp"
#include "support.hpp"
#include "swapio/error.hpp"

namespace swapio::test {
namespace {

// The bench report's memory layout: below kLowContiguity a warning that names the process, the
// share, where it was read and what it costs; above it nothing; the line for people says which.
TEST(BenchReport, ALowIOMemoryLayoutIsWarnedAbout) {
  const nlohmann::json scattered = {{"memory", "tensor"}, {"source", "pagemap"}, {"contiguous_2m", 0.004},
                                    {"huge_pages", 0.0}, {"worst_segments_per_mib", 256}};
  const std::string w = cli::layout_warning(3, scattered);
  EXPECT_NE(w.find("process 3: only 0.4% of its I/O memory is physically contiguous in 2 MiB pieces"), std::string::npos) << w;
  EXPECT_NE(w.find("up to 256 segments per MiB"), std::string::npos) << w;
  EXPECT_NE(w.find("split"), std::string::npos) << w;
  const nlohmann::json from_smaps = {{"memory", "tensor"}, {"source", "smaps"}, {"contiguous_2m", 0.5}, {"huge_pages", 0.5}};
  EXPECT_NE(cli::layout_warning(0, from_smaps).find("only 50%"), std::string::npos);
  EXPECT_NE(cli::layout_warning(0, from_smaps).find("physical addresses need root"), std::string::npos);
  EXPECT_EQ(cli::layout_warning(0, {{"memory", "tensor"}, {"source", "pagemap"}, {"contiguous_2m", 0.95}}), "");
  EXPECT_EQ(cli::layout_warning(0, {{"memory", "staging ring (--staging always)"}, {"source", nullptr}}), "");

  const nlohmann::json good_layout = {
      {"contiguous_2m", 1.0},
      {"processes", {{{"memory", "tensor"}, {"source", "pagemap"}, {"contiguous_2m", 1.0}, {"worst_segments_per_mib", 1}}}}};
  EXPECT_EQ(cli::layout_line(good_layout), "100% physically contiguous in >= 2 MiB pieces; at most 1 segment per MiB (pagemap)");
  const nlohmann::json staged = {{"contiguous_2m", nullptr},
                                 {"processes", {{{"memory", "staging ring (--staging always)"}, {"source", nullptr}}}}};
  EXPECT_NE(cli::layout_line(staged).find("swapio's staging ring"), std::string::npos) << cli::layout_line(staged);
}

// A report is written whole or not at all: one that does not fit leaves the earlier report as it
// was, an error with the errno, and no temporary; one written through a link replaces the file
// the link names.
TEST(Reports, AFailedWriteKeepsTheEarlierReport) {
  TempDir dir;
  ScratchMount small(dir.path(), "small", "tmpfs", "size=1m");
  if (!small.ok()) GTEST_SKIP() << small.why_not();
  const std::string path = small.path() + "/report.json";
  cli::write_report(path, "earlier\n");
  try {
    cli::write_report(path, std::string(4u << 20, 'x'));  // more than the filesystem holds
    ADD_FAILURE() << "a 4 MiB report fitted in a 1 MiB filesystem";
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), ENOSPC) << e.what();
  }
  std::ifstream in(path);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "earlier\n");
  std::size_t entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(small.path())) entries += entry.path() != path ? 1 : 0;
  EXPECT_EQ(entries, 0u) << "a temporary was left beside the report";

  const std::string link = dir.path() + "/link.json";
  std::filesystem::create_symlink(path, link);
  cli::write_report(link, "through the link\n");
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  std::ifstream again(path);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(again), {}), "through the link\n");
}

}  // namespace
}  // namespace swapio::test
