// GPUDirect Storage from the command: bench --gds and ds_io --use_gds on the emulated device
// through the stand-in libcufile.so.0, each reason auto falls back for as the report says it,
// and one line with exit status 2 wherever gds=on has no GDS path.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <span>
#include <string_view>

#include "cli_fixture.hpp"
#include "support.hpp"

namespace swapio::test {
namespace {

const std::string kStandIn = "SWAPIO_CUFILE_LIBRARY=" SWAPIO_CUFILE_STANDIN;
const std::string kNoLibrary = "SWAPIO_CUFILE_LIBRARY=/nonexistent/libcufile.so.0";
const std::string kNvidiaFs = "SWAPIO_NVIDIA_FS_PROC=/";  // an existing path: "loaded"
const std::string kNoNvidiaFs = "SWAPIO_NVIDIA_FS_PROC=/nonexistent/nvidia-fs";

class CliGds : public Cli {
 protected:
  void SetUp() override {
    Cli::SetUp();
    if (!supports_direct(dir_.path())) GTEST_SKIP() << dir_.path() << " does not support O_DIRECT";
    std::filesystem::create_directory(dir_.file("nvme"));
  }
  Outcome run_env(const std::vector<std::string>& env, const std::vector<std::string>& args) {
    std::vector<std::string> prefix = {"env"};
    prefix.insert(prefix.end(), env.begin(), env.end());
    return run_prefixed(prefix, args);
  }
  void expect_one_line(const Outcome& o, const std::string& message) {
    EXPECT_EQ(o.status, 2) << o.err << o.out;
    EXPECT_NE(o.err.find(message), std::string::npos) << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  }
  std::string bench_gds(const std::vector<std::string>& env, const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"bench", "--gpu", "--device", "emulated", "--folder", "nvme", "--write-file", "w",
                                     "--write-size", "3M", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    const Outcome o = run_env(env, args);
    EXPECT_EQ(o.status, 0) << o.err;
    const auto doc = nlohmann::json::parse(o.out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << o.out;
    std::filesystem::remove(dir_.file("nvme/w.0"));
    if (doc.is_discarded()) return "";
    const auto& gds = doc.at("phases").at(0).at("gds");
    return gds.is_string() ? gds.get<std::string>() : "(null)";
  }
};

TEST_F(CliGds, DsIoUseGdsMovesTheBytesByCuFile) {
  for (const char* mode : {"--read", ""}) {
    std::vector<std::string> args = {"ds_io", "--folder", "nvme", "--io_size", "5M", "--gpu", "--device", "emulated",
                                     "--use_gds", "--validate"};
    if (*mode != '\0') args.emplace_back(mode);
    const Outcome o = run_env({kStandIn, kNvidiaFs}, args);
    EXPECT_EQ(o.status, 0) << o.err;
    EXPECT_NE(o.out.find("GDS: yes\n"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("moved by GPUDirect Storage (cuFile)"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("validation: passed"), std::string::npos) << o.out;
  }
  // Without --use_gds, DeepSpeed's aio handle: the pinned bounce, whatever the machine has.
  const Outcome o = run_env({kStandIn, kNvidiaFs}, {"ds_io", "--folder", "nvme", "--io_size", "1M", "--gpu", "--device",
                                                   "emulated"});
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("GDS: no: gds=off"), std::string::npos) << o.out;
}

TEST_F(CliGds, NoGdsPathIsOneLineAndExitStatus2) {
  expect_one_line(run_env({kNoLibrary}, {"ds_io", "--folder", "nvme", "--io_size", "1M", "--gpu", "--device", "emulated",
                                         "--use_gds"}),
                  "--gds on: no GPUDirect Storage here: /nonexistent/libcufile.so.0 not found");
  expect_one_line(run_env({kStandIn, "SWAPIO_STANDIN_DRIVER_OPEN=fail"},
                          {"bench", "--gpu", "--device", "emulated", "--gds", "--folder", "nvme", "--write-file", "w",
                           "--write-size", "1M"}),
                  "cuFileDriverOpen failed: CU_FILE_DRIVER_NOT_INITIALIZED (5001)");
  expect_one_line(run_env({"SWAPIO_CUFILE_LIBRARY=libz.so.1"}, {"bench", "--gpu", "--device", "emulated", "--gds", "on",
                                                                "--folder", "nvme", "--write-file", "w", "--write-size",
                                                                "1M"}),
                  "libz.so.1 lacks cuFileDriverOpen");
  expect_one_line(run_env({kStandIn}, {"bench", "--gds", "--folder", "nvme", "--write-file", "w", "--write-size", "1M"}),
                  "--gds needs --gpu");
  expect_one_line(run_env({kStandIn}, {"bench", "--gpu", "--device", "emulated", "--gds", "on", "--direct", "off",
                                       "--folder", "nvme", "--write-file", "w", "--write-size", "1M"}),
                  "is not read or written with O_DIRECT here (--direct off), and cuFile needs it");
  expect_one_line(run_env({kStandIn}, {"ds_io", "--folder", "nvme", "--io_size", "1M", "--use_gds"}),
                  "--gpu must be set to transfer with --use_gds");
  expect_one_line(run_env({kStandIn}, {"bench", "--gpu", "--device", "emulated", "--gds", "maybe", "--folder", "nvme",
                                       "--write-file", "w", "--write-size", "1M"}),
                  "--gds maybe");
  EXPECT_TRUE(std::filesystem::is_empty(dir_.file("nvme"))) << "a refused run left files";
}

TEST_F(CliGds, AutoSaysWhichPathRanAndWhy) {
  EXPECT_EQ(bench_gds({kStandIn, kNvidiaFs}, {}), "yes");
  EXPECT_EQ(bench_gds({kStandIn, kNoNvidiaFs}, {}), "no: nvidia-fs not loaded, cuFile compat mode");
  EXPECT_EQ(bench_gds({kStandIn, kNoNvidiaFs}, {"--gds"}), "yes (cuFile compat mode: nvidia-fs not loaded)");
  EXPECT_EQ(bench_gds({kNoLibrary}, {}), "no: /nonexistent/libcufile.so.0 not found");
  EXPECT_EQ(bench_gds({kStandIn, kNvidiaFs}, {"--gds", "off"}), "no: gds=off");
  EXPECT_EQ(bench_gds({kStandIn, kNvidiaFs, "SWAPIO_STANDIN_HANDLE_ERROR=5034"}, {}),
            "no: cuFileHandleRegister failed: CU_FILE_IO_DISABLED (5034): GDS is disabled for this file by cufile.json");
  // Host memory: no GDS field.
  const Outcome o = run_env({kStandIn, kNvidiaFs}, {"bench", "--folder", "nvme", "--write-file", "w", "--write-size",
                                                   "1M", "--json"});
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_TRUE(nlohmann::json::parse(o.out).at("phases").at(0).at("gds").is_null());
}

TEST_F(CliGds, QualifySaysWhichPathEachGpuWorkloadTook) {
  write_plain(dir_.file("gds.json"), std::as_bytes(std::span(std::string_view(R"({ "name": "gds", "rounds": 1,
    "workloads": [
      { "name": "gpu-write-gds", "op": "write", "size": "8M", "device": "emulated", "gds": "on", "floor_gib_per_s": 0.001 },
      { "name": "gpu-read-auto", "op": "read", "size": "8M", "device": "emulated", "floor_gib_per_s": 0.001 }
    ] })"))));
  const Outcome o = run_env({kStandIn, kNoNvidiaFs}, {"qualify", "--profile", "gds.json", "--folder", "nvme", "--json",
                                                     "q.json"});
  ASSERT_EQ(o.status, 0) << o.err << o.out;
  EXPECT_NE(o.out.find("gpu-write-gds: GDS: yes (cuFile compat mode: nvidia-fs not loaded)\n"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("gpu-read-auto: GDS: no: nvidia-fs not loaded, cuFile compat mode\n"), std::string::npos) << o.out;
  const auto doc = nlohmann::json::parse(slurp(dir_.file("q.json")));
  EXPECT_EQ(doc.at("workloads").at(0).at("gds_path"), "yes (cuFile compat mode: nvidia-fs not loaded)");
  EXPECT_EQ(doc.at("workloads").at(0).at("gds"), "on");
  std::filesystem::remove(dir_.file("q.json"));
  std::filesystem::remove(dir_.file("gds.json"));
  EXPECT_TRUE(std::filesystem::is_empty(dir_.file("nvme"))) << "qualify left files";
}

TEST_F(CliGds, VersionNamesCuFile) {
  const Outcome with = run_env({kStandIn, kNvidiaFs}, {"--version"});
  EXPECT_NE(with.out.find("GDS: cuFile 1.15 (" SWAPIO_CUFILE_STANDIN "), nvidia-fs loaded\n"), std::string::npos)
      << with.out;
  const Outcome compat = run_env({kStandIn, kNoNvidiaFs}, {"--version"});
  EXPECT_NE(compat.out.find("nvidia-fs not loaded: compat mode"), std::string::npos) << compat.out;
  const Outcome without = run_env({kNoLibrary}, {"--version"});
  EXPECT_NE(without.out.find("GDS: no: /nonexistent/libcufile.so.0 not found\n"), std::string::npos) << without.out;
  const Outcome wrong = run_env({"SWAPIO_CUFILE_LIBRARY=libz.so.1"}, {"--version"});
  EXPECT_NE(wrong.out.find("GDS: no: libz.so.1 lacks cuFileDriverOpen\n"), std::string::npos) << wrong.out;
}

}  // namespace
}  // namespace swapio::test
