// `swapio ds_io` runs DeepSpeed ds_io's argument lines: its files, its summary lines in their exact
// form, under its own name, and its bad lines refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "cli_fixture.hpp"
#include "support.hpp"

namespace swapio::test {
namespace {

namespace ds_io_checks {

// ds_io's summary lines, exactly: "Task Read Latency = 0.1234 sec", "... Speed = 1.23 GB/sec".
// Returns the four values (task latency, task speed, e2e latency, e2e speed), checking the form.
std::vector<double> summary(const std::string& out, const std::string& op) {
  std::vector<double> values;
  for (const char* what : {"Task", "E2E"}) {
    for (const char* metric : {"Latency", "Speed"}) {
      const std::string unit = std::string(metric) == "Latency" ? "sec" : "GB/sec";
      const std::regex line("(^|\n)" + std::string(what) + " " + op + " " + metric + " = ([0-9]+\\.[0-9]+) " + unit + "\n");
      std::smatch m;
      EXPECT_TRUE(std::regex_search(out, m, line)) << what << " " << op << " " << metric << " line missing in\n" << out;
      values.push_back(m.size() > 2 ? std::stod(m[2]) : 0);
    }
  }
  return values;
}

}  // namespace ds_io_checks

// Argument lines of ds_io's documented usage and of its sweep tool's grid (block sizes, queue
// depths, single submit, sequential requests, io_parallel, multi_process, read/write, both
// engines, the GPU path on the emulated device), each end to end at a small size: the files
// named as ds_io names them, the summary lines in its exact form, the bytes validated.
TEST_F(Cli, DsIoRunsItsArgumentLines) {
  std::filesystem::create_directories(dir_.file("nvme0"));
  std::filesystem::create_directories(dir_.file("nvme1"));
  struct Line {
    std::vector<std::string> args;
    bool read;
    unsigned processes;
    std::vector<std::string> files;  // what must exist afterwards
  };
  const std::vector<Line> lines = {
      {{"--folder", "nvme0", "--io_size", "4M"}, false, 1, {"nvme0/_aio_write_4194304.pt.0_0"}},
      {{"--folder", "nvme0", "--io_size", "4M", "--read"}, true, 1, {"nvme0/_aio_read_4194304.pt.0_0"}},
      {{"--folder", "nvme0", "--io_size", "4M", "--block_size", "1M", "--queue_depth", "32", "--read", "--io_parallel",
        "2", "--multi_process", "1", "--loops", "3", "--warmup_loops", "1"},
       true, 1, {"nvme0/_aio_read_4194304.pt.0_0"}},
      {{"--folder", "nvme0", "--io_size", "2M", "--block_size", "64K", "--queue_depth", "128", "--single_submit",
        "--validate"},
       false, 1, {"nvme0/_aio_write_2097152.pt.0_0"}},
      {{"--folder", "nvme0", "--io_size", "2M", "--block_size", "8M", "--queue_depth", "4", "--sequential_requests",
        "--read", "--validate"},
       true, 1, {"nvme0/_aio_read_2097152.pt.0_0"}},
      {{"--folder", "nvme0", "--io_size", "3M", "--multi_process", "3", "--io_parallel", "4", "--validate"}, false, 3,
       {"nvme0/_aio_write_3145728.pt.0_0", "nvme0/_aio_write_3145728.pt.1_0", "nvme0/_aio_write_3145728.pt.2_0"}},
      {{"--folder", "nvme0", "--io_size", "3M", "--multi_process", "2", "--read", "--validate"}, true, 2,
       {"nvme0/_aio_read_3145728.pt.0_0", "nvme0/_aio_read_3145728.pt.1_0"}},
      {{"--folder", "nvme0", "--io_size", "1M", "--engine", "aio_basic", "--read", "--validate"}, true, 1,
       {"nvme0/_aio_read_1048576.pt.0"}},
      {{"--folder_to_device_mapping", "nvme0:0", "nvme1:1", "--io_size", "1M", "--read", "--validate"}, true, 2,
       {"nvme0/_aio_read_1048576.pt.0_0", "nvme1/_aio_read_1048576.pt.1_0"}},
      {{"--folder", "nvme1", "--io_size", "2M", "--gpu", "--device", "emulated", "--validate"}, false, 1,
       {"nvme1/_aio_write_2097152.pt.0_0"}},
      {{"--folder", "nvme1", "--io_size", "1M", "--different_file_each_iteration", "--loops", "2", "--validate",
        "--multi_process", "2"},
       false, 2,
       {"nvme1/_aio_write_1048576.pt.0_0", "nvme1/_aio_write_1048576.pt.0_1", "nvme1/_aio_write_1048576.pt.0_2",
        "nvme1/_aio_write_1048576.pt.1_2"}},
      {{"--folder", "nvme1", "--io_size", "1M", "--different_file_each_iteration", "--read", "--validate"}, true, 1,
       {"nvme1/_aio_read_1048576.pt.0_0", "nvme1/_aio_read_1048576.pt.0_1", "nvme1/_aio_read_1048576.pt.0_2",
        "nvme1/_aio_read_1048576.pt.0_3"}},
      {{"--folder", "nvme1", "--io_size", "2M", "--gpu", "--device", "emulated", "--read", "--validate", "--loops", "2",
        "--warmup_loops", "2", "--include_warmup_time", "--use_accelerator_pin_memory", "--slow_bounce_buffer"},
       true, 1, {"nvme1/_aio_read_2097152.pt.0_0"}},
  };
  for (const Line& line : lines) {
    std::vector<std::string> args{"ds_io"};
    args.insert(args.end(), line.args.begin(), line.args.end());
    std::string shown;
    for (const auto& a : args) shown += a + " ";
    const Outcome o = run(args);
    ASSERT_EQ(o.status, 0) << shown << "\n" << o.out << o.err;
    const std::vector<double> v = ds_io_checks::summary(o.out, line.read ? "Read" : "Write");
    ASSERT_EQ(v.size(), 4u);
    EXPECT_GT(v[0], 0) << shown;
    EXPECT_GT(v[3], 0) << shown;
    EXPECT_GE(v[2], v[0]) << shown << ": E2E latency includes the task's";
    for (const std::string& f : line.files) EXPECT_TRUE(std::filesystem::exists(dir_.file(f))) << shown << ": no " << f;
    if (std::find(args.begin(), args.end(), "--validate") != args.end()) {
      EXPECT_NE(o.out.find("validation: passed"), std::string::npos) << shown << "\n" << o.out;
    }
    // Loops as ds_io counts them: 3 timed after 1 warm-up by default, warm-ups counted with
    // --include_warmup_time.
    const bool include = std::find(args.begin(), args.end(), "--include_warmup_time") != args.end();
    const auto loops_at = std::find(args.begin(), args.end(), "--loops");
    const std::string loops = include ? "4 loops" : loops_at == args.end() ? "3 loops" : *(loops_at + 1) + " loops";
    EXPECT_NE(o.out.find(loops), std::string::npos) << shown << "\n" << o.out;
    EXPECT_NE(o.out.find(std::to_string(line.processes) + (line.processes == 1 ? " process" : " processes")),
              std::string::npos)
        << shown << "\n" << o.out;
  }
  // A read file made by ds_io is kept and read again, not recreated.
  const Outcome again = run({"ds_io", "--folder", "nvme0", "--io_size", "4M", "--read", "--validate"});
  EXPECT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(again.out.find("[Start] Create"), std::string::npos) << again.out;
}

// The same lines under the name ds_io (a link to swapio, as DeepSpeed's command is named).
TEST_F(Cli, DsIoRunsUnderItsOwnName) {
  std::filesystem::create_directories(dir_.file("nvme"));
  std::filesystem::create_symlink(SWAPIO_CLI_PATH, dir_.file("ds_io"));
  const Outcome o = run_prefixed({"bash", "-c", "exec ./ds_io \"$@\""},
                                 {"--folder", "nvme", "--io_size", "2M", "--read", "--io_parallel", "2"});
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(ds_io_checks::summary(o.out, "Read").size(), 4u);
  const Outcome help = run_prefixed({"bash", "-c", "exec ./ds_io \"$@\""}, {"--help"});
  EXPECT_EQ(help.status, 0) << help.err;
  for (const char* arg : {"--folder_to_device_mapping", "--io_size", "--multi_process", "--sequential_requests",
                          "--warmup_loops", "--include_warmup_time", "--use_gds", "Exit status"}) {
    EXPECT_NE(help.out.find(arg), std::string::npos) << arg << " is not in ds_io --help";
  }
}

// ds_io's validation errors, and what swapio cannot do: one line, exit status 2, no file.
TEST_F(Cli, DsIoBadLinesGetOneLineAndStatusTwo) {
  std::filesystem::create_directories(dir_.file("nvme"));
  write_plain(dir_.file("nvme/_aio_read_2097152.pt.0_0"), std::vector<std::byte>(1000));  // someone's, wrong size
  const std::vector<BadCase> cases = {
      {{"ds_io", "--io_size", "1M"}, "at least one of --folder or --folder_to_device_mapping must be specified"},
      {{"ds_io", "--folder", "nvme", "--folder_to_device_mapping", "nvme:0", "--io_size", "1M"},
       "cannot be specified together"},
      {{"ds_io", "--folder", "missing", "--io_size", "1M"}, "--folder missing: not a folder"},
      {{"ds_io", "--folder_to_device_mapping", "nvme", "--io_size", "1M"}, "missing delimiter (:)"},
      {{"ds_io", "--folder_to_device_mapping", "missing:0", "--io_size", "1M"}, "missing is not a folder"},
      {{"ds_io", "--folder", "nvme", "--io_size", "1M", "--engine", "fast"}, "--engine fast is invalid"},
      {{"ds_io", "--folder", "nvme", "--io_size", "1M", "--engine", "torch_io"}, "not supported"},
      {{"ds_io", "--folder", "nvme", "--io_size", "1M", "--use_gds"}, "--gpu must be set to transfer with --use_gds"},
      {{"ds_io", "--folder", "nvme"}, "--io_size is required"},
      {{"ds_io", "--folder", "nvme", "--io_size", "0"}, "--io_size 0"},
      {{"ds_io", "--folder", "nvme", "--io_size", "1M", "--queue_depth", "0"}, "queue_depth"},
      {{"ds_io", "--folder", "nvme", "--io_size", "1M", "--multi_process", "0"}, "--multi_process 0"},
      {{"ds_io", "--folder", "nvme", "--io_size", "2M", "--read"}, "exists and is not a file of --io_size"},
  };
  expect_refused(cases);
  EXPECT_EQ(files(), (std::vector<std::string>{"nvme"}));
  EXPECT_EQ(std::filesystem::file_size(dir_.file("nvme/_aio_read_2097152.pt.0_0")), 1000u) << "someone's file was overwritten";
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_.file("nvme")), std::filesystem::directory_iterator()), 1);
}

}  // namespace
}  // namespace swapio::test
