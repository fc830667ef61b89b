// swapio: the command. `swapio bench` runs DeepSpeed's async I/O harness natively; `swapio qualify`
// checks a node's storage against a profile's floors.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench/bench.hpp"
#include "bench/bench_options.hpp"
#include "bench/ds_io.hpp"
#include "common/facts.hpp"
#include "common/man_page.hpp"
#include "common/subprocess.hpp"
#include "qualify/fleet.hpp"
#include "qualify/qualify.hpp"
#include "step/step.hpp"
#include "step/step_options.hpp"
#include "tune/tune.hpp"
#include "swapio/error.hpp"

namespace {

// Every --help ends with the exit statuses: the verb's own 0 and 1, then what all verbs share.
std::string exit_statuses(const char* own) {
  return std::string("Exit status: ") + own + ", 2 bad arguments, 128+N interrupted by signal N.";
}

bool g_json = false;  // --json was given: bad input is also a JSON document on stdout

// With --json, a refused command line is a JSON document too, so that a program reading stdout
// learns why there is no report.
void json_error(const std::string& message) {
  if (!g_json) return;
  nlohmann::json doc = {{"schema_version", swapio::cli::kReportSchemaVersion},
                        {"error", {{"kind", "bad-arguments"}, {"message", message}, {"exit_status", 2}}},
                        {"swapio", swapio::cli::build_json()}};
  std::printf("%s\n", doc.dump(2).c_str());
}

// Runs a subcommand's step: bad input (ConfigError) is exit status 2, an interrupt 128 + the
// signal, any other failure 1, each reported in one line.
template <typename Step>
int run_command(const char* name, Step&& step) {
  // Whatever way the step ends, what its programs left running (reparented here) goes with it.
  struct Sweep {
    ~Sweep() { swapio::cli::stop_orphans(); }
  } sweep;
  try {
    return step();
  } catch (const swapio::cli::Interrupted& e) {
    std::fprintf(stderr, "swapio %s: %s; its processes were stopped and its files removed\n", name, e.what());
    return 128 + swapio::cli::interrupt_signal();
  } catch (const swapio::ConfigError& e) {
    std::fprintf(stderr, "swapio %s: %s\n", name, e.what());
    json_error(e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "swapio %s: %s\n", name, e.what());
    return 1;
  }
}

// The command line: every verb (subcommand) and the options it fills in.
struct Command {
  CLI::App app{"swapio: move tensors between memory and NVMe files as fast as the device allows"};
  CLI::App* bench = nullptr;
  CLI::App* qualify = nullptr;
  CLI::App* fleet_report = nullptr;
  CLI::App* tune = nullptr;
  CLI::App* ds_io = nullptr;
  CLI::App* step = nullptr;
  swapio::cli::BenchOptions opts;
  swapio::cli::BenchArgs args;
  swapio::cli::QualifyOptions qopts;
  swapio::cli::FleetReportOptions fopts;
  swapio::cli::TuneOptions topts;
  swapio::cli::DsIoArgs dargs;
  swapio::cli::StepOptions sopts;
};

void add_bench(Command& c) {
  c.bench = c.app.add_subcommand(
      "bench",
      "Read and/or write files with worker processes behind barriers and report Task and E2E latency and speed, "
      "request latency percentiles and CPU per GiB (DeepSpeed's test_ds_aio.py, natively). GiB/s and the \"GB\" "
      "of the Task/E2E lines are 2^30 bytes per second.");
  swapio::cli::add_bench_options(*c.bench, c.opts, c.args);
  c.bench->footer(
      "Examples:\n"
      "  swapio bench --quick\n"
      "  swapio bench --write-file /nvme/x --write-size 1G --handle --io-parallel 2 --threads 2 --validate\n"
      "  swapio bench --read-file /nvme/x.0 --handle --threads 2 --validate --json\n"
      + exit_statuses("0 done, 1 a worker or the I/O failed"));
}

void add_qualify(Command& c) {
  c.qualify = c.app.add_subcommand(
      "qualify",
      "Is this node's storage fit for tensor swapping? Runs a profile's workloads through swapio bench beside "
      "fio on the same folders, compares each with its floor, and prints a table and a verdict; writes JSON and "
      "JUnit XML reports on request.");
  swapio::cli::add_qualify_options(*c.qualify, c.qopts);
  c.qualify->footer(
      "Examples:\n"
      "  swapio qualify\n"
      "  swapio qualify --profile fixtures/profiles/any-node.json --folder /nvme0 --folder /nvme1 --junit q.xml\n"
      "  srun -N 64 --ntasks-per-node=1 swapio qualify --fleet --profile P --folder /nvme0 --json fleet.json\n"
      + exit_statuses("0 every floor met (with --fleet: every node passes), 1 a floor missed, a node is an outlier "
                      "or a measurement failed"));
}

void add_fleet_report(Command& c) {
  c.fleet_report = c.app.add_subcommand(
      "fleet-report",
      "The fleet report of nodes qualified one by one (swapio qualify --json FILE on each, by any means): nodes x "
      "workloads, the fleet median per workload, and outliers, nodes far below their siblings, which fail even "
      "above their floors. The same report as qualify --fleet.");
  swapio::cli::add_fleet_report_options(*c.fleet_report, c.fopts);
  c.fleet_report->footer("Examples:\n"
                         "  swapio fleet-report reports/node-*.json --json fleet.json --junit fleet.xml\n" +
                         exit_statuses("0 every node passes, 1 a node fails (a floor, an outlier, an error)"));
}

void add_tune(Command& c) {
  c.tune = c.app.add_subcommand(
      "tune",
      "Find a folder's best settings: screens every configuration of the space with short runs, keeps the better "
      "quarter for runs four times as long, confirms the leaders at full size, and writes a table (CSV, JSON), "
      "the best configuration as a DeepSpeed \"aio\" block, and an SVG heat map.");
  swapio::cli::add_tune_options(*c.tune, c.topts);
  c.tune->footer(
      "Examples:\n"
      "  swapio tune --folder /nvme0\n"
      "  swapio tune --folder /nvme0 --space space.json --prefix /tmp/nvme0-tune\n"
      + exit_statuses("0 done, 1 I/O failed"));
}

void add_ds_io(Command& c) {
  c.ds_io = c.app.add_subcommand(
      "ds_io",
      "DeepSpeed's current harness (ds_io), argument for argument, on swapio bench's engine, processes and "
      "validation: the same files (_aio_read_<bytes>.pt.<process>_0, created when missing), the same defaults "
      "(3 loops after 1 warm-up, depth 32, 1M blocks, overlapped) and the same Task/E2E summary lines.");
  swapio::cli::add_ds_io_options(*c.ds_io, c.dargs);
  c.ds_io->footer(
      "Examples:\n"
      "  swapio ds_io --folder /nvme --io_size 400M --block_size 1M --queue_depth 32 --read --io_parallel 2 "
      "--multi_process 1 --loops 3 --warmup_loops 1\n"
      "  ln -s $(command -v swapio) ds_io && ./ds_io --folder /nvme --io_size 1G\n"
      + exit_statuses("0 done, 1 a worker or the I/O failed"));
}

void add_step(Command& c) {
  c.step = c.app.add_subcommand(
      "step",
      "The swap traffic of ZeRO-Infinity's optimizer step (NVMe optimizer offload, ZeRO-3), replayed by one process "
      "per rank on DeepSpeed's files: its partitioned and pipelined swappers and swapio's schedule side by side, each "
      "step beside its I/O lower bound (the same bytes at the read and write ceilings measured in the same run), "
      "and the DeepSpeed config of the best schedule DeepSpeed can run.");
  swapio::cli::add_step_options(*c.step, c.sopts);
  c.step->footer(
      "Examples:\n"
      "  swapio step --params 1B --folder /nvme0\n"
      "  swapio step --params 7B --world-size 64 --ranks 8 --folder /nvme0 --folder /nvme1 --compute none --json\n" +
      exit_statuses("0 done, 1 a rank or the I/O failed (or --validate found a difference)"));
}

// The whole command line, verb by verb (in --help's order).
void build_command(Command& c) {
  c.app.require_subcommand(1);
  c.app.set_version_flag("--version", [] { return swapio::cli::version_text(); }, "the version, revision, build type and features");
  c.app.footer(exit_statuses("0 done, 1 a run or a check failed") + "\nSee swapio(1), and swapio VERB --help.");
  add_bench(c);
  add_qualify(c);
  add_fleet_report(c);
  add_tune(c);
  add_ds_io(c);
  add_step(c);
  for (CLI::App* sub : {c.bench, c.qualify, c.tune, c.ds_io, c.fleet_report, c.step}) {
    sub->set_version_flag("--version", [] { return swapio::cli::version_text(); }, "the version, revision, build type and features");
  }
}

// A command line CLI11 refused: one line naming the verb's --help (or the word that is no verb).
int refuse(const Command& c, const CLI::ParseError& e, int argc, char** argv) {
  const char* sub = c.bench->parsed()          ? "bench "
                    : c.qualify->parsed()      ? "qualify "
                    : c.tune->parsed()         ? "tune "
                    : c.ds_io->parsed()        ? "ds_io "
                    : c.fleet_report->parsed() ? "fleet-report "
                    : c.step->parsed()         ? "step "
                                               : "";
  if (*sub == '\0' && argc > 1 && argv[1][0] != '-') {  // a word that is no subcommand
    std::fprintf(stderr, "swapio: '%s' is not a subcommand: use bench, step, qualify, tune, ds_io or fleet-report (see swapio --help)\n", argv[1]);
    return 2;
  }
  std::fprintf(stderr, "swapio: %s (see swapio %s--help)\n", e.what(), sub);
  json_error(e.what());
  return 2;
}

// Runs the verb that was parsed.
int dispatch(Command& c) {
  if (c.tune->parsed()) return run_command("tune", [&] { return swapio::cli::run_tune(c.topts); });
  if (c.ds_io->parsed()) return run_command("ds_io", [&] { return swapio::cli::run_ds_io(c.dargs); });
  if (c.step->parsed()) {
    return run_command("step", [&] {
      swapio::cli::finish_step_options(c.sopts);
      return swapio::cli::run_step(c.sopts);
    });
  }
  if (c.qualify->parsed()) {
    return run_command("qualify", [&] {
      swapio::cli::finish_qualify_options(*c.qualify, c.qopts);
      return c.qopts.fleet ? swapio::cli::run_qualify_fleet(c.qopts) : swapio::cli::run_qualify(c.qopts);
    });
  }
  if (c.fleet_report->parsed()) return run_command("fleet-report", [&] { return swapio::cli::run_fleet_report(c.fopts); });
  if (const int bad = run_command("bench", [&] {
        swapio::cli::finish_bench_options(c.opts, c.args);
        return 0;
      });
      bad != 0) {
    return bad;
  }
  return run_command("bench", [&] { return swapio::cli::run_bench(c.opts); });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "__worker") == 0) return swapio::cli::worker_main(argv[2]);
  if (argc == 3 && std::strcmp(argv[1], "__step_worker") == 0) return swapio::cli::step_worker_main(argv[2]);
  // Run as `ds_io` (a link to this binary, as DeepSpeed's command is named): `swapio ds_io ...`.
  std::vector<char*> words(argv, argv + argc);
  static char ds_io_word[] = "ds_io";
  std::string ds_io_name;  // run as ds_io: the name it was run by (its --help's usage line names it alone)
  if (const char* slash = std::strrchr(argv[0], '/'); std::strcmp(slash ? slash + 1 : argv[0], "ds_io") == 0) {
    ds_io_name = argv[0];
    words.insert(words.begin() + 1, ds_io_word);
    argc = static_cast<int>(words.size());
    argv = words.data();
  }

  for (int i = 1; i < argc; ++i) g_json = g_json || std::strcmp(argv[i], "--json") == 0;
  Command command;
  build_command(command);
  // The manual page, made from this very command line: `swapio __man FILE` (the build runs it).
  if (argc == 3 && std::strcmp(argv[1], "__man") == 0) return swapio::cli::write_man_page(command.app, argv[2]);
  try {
    command.app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    if (!ds_io_name.empty()) {
      // "Usage: ./ds_io [OPTIONS]", not the program's name followed by the inserted word.
      command.app.name("");
      command.ds_io->name(ds_io_name);
    }
    return command.app.exit(e);
  } catch (const CLI::ParseError& e) {
    return refuse(command, e, argc, argv);
  }
  return dispatch(command);
}
