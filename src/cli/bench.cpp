#include "bench.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <set>
#include <stdexcept>
#include <thread>

#include "histogram.hpp"
#include "swapio/error.hpp"
#include "swapio/file.hpp"

extern char** environ;

namespace swapio::cli {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

struct WorkerFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Interrupted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

volatile std::sig_atomic_t g_signal = 0;
extern "C" void on_signal(int sig) { g_signal = sig; }

struct Proc {
  unsigned index = 0;
  pid_t pid = -1;
  FileDescriptor report;   // worker -> parent, JSON lines
  FileDescriptor control;  // parent -> worker, one byte per barrier
  std::string partial;
  nlohmann::json last;              // the latest event
  bool fresh = false;               // `last` not consumed by a barrier yet
  std::vector<nlohmann::json> loops;  // loop events, by loop index
  bool eof = false;
  bool reaped = false;
  int status = 0;
};

int high_fd(int fd) {  // keep pipe ends clear of 3 and 4, where the worker expects its pipes
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
  const int err = errno;
  ::close(fd);
  if (moved < 0) throw_io_error(err, "fcntl F_DUPFD_CLOEXEC", "");
  return moved;
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) {
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  }
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "ended (status " + std::to_string(status) + ")";
}

class Phase {
 public:
  Phase(const BenchOptions& o, bool write, std::vector<std::string> paths)
      : o_(o), write_(write), paths_(std::move(paths)) {}

  ~Phase() { kill_all(); }

  // Runs the phase; returns its JSON report. Throws WorkerFailure naming the worker.
  nlohmann::json run() {
    spawn_all();
    collect("started");
    release();
    collect("ready");
    const unsigned total = o_.warmup_loops + o_.loops;
    std::vector<double> e2e(total);
    for (unsigned loop = 0; loop < total; ++loop) {
      progress(loop, total);
      const auto t0 = Clock::now();
      release();
      collect("loop");
      e2e[loop] = std::chrono::duration<double>(Clock::now() - t0).count();
    }
    progress(total, total);
    release();
    collect("done");
    for (Proc& p : procs_) reap(p);
    return summarize(e2e);
  }

 private:
  void spawn_all() {
    const std::string exe = "/proc/self/exe";  // the very binary running, even if replaced on disk
    nlohmann::json options = o_.to_json();
    for (unsigned i = 0; i < o_.threads; ++i) {
      int rep[2], ctl[2];
      if (::pipe2(rep, O_CLOEXEC) != 0) throw_io_error(errno, "pipe2", "");
      FileDescriptor rep_r(high_fd(rep[0])), rep_w(high_fd(rep[1]));
      if (::pipe2(ctl, O_CLOEXEC) != 0) throw_io_error(errno, "pipe2", "");
      FileDescriptor ctl_r(high_fd(ctl[0])), ctl_w(high_fd(ctl[1]));
      const std::string spec = nlohmann::json{{"options", options}, {"write", write_}, {"path", paths_[i]},
                                              {"process", i}, {"device", o_.device_for(i)}}.dump();
      posix_spawn_file_actions_t fa;
      posix_spawn_file_actions_init(&fa);
      posix_spawn_file_actions_adddup2(&fa, rep_w.get(), 3);
      posix_spawn_file_actions_adddup2(&fa, ctl_r.get(), 4);
      posix_spawn_file_actions_addclosefrom_np(&fa, 5);  // nothing else of ours, or our caller's
      posix_spawnattr_t attr;
      posix_spawnattr_init(&attr);
      sigset_t def;
      sigemptyset(&def);
      for (int sig : {SIGPIPE, SIGCHLD, SIGINT, SIGTERM}) sigaddset(&def, sig);  // ours are not theirs
      posix_spawnattr_setsigdefault(&attr, &def);
      sigset_t none;
      sigemptyset(&none);
      posix_spawnattr_setsigmask(&attr, &none);
      posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
      std::string arg0 = "swapio", arg1 = "__worker";
      char* argv[] = {arg0.data(), arg1.data(), const_cast<char*>(spec.c_str()), nullptr};
      Proc p;
      p.index = i;
      const int rc = ::posix_spawn(&p.pid, exe.c_str(), &fa, &attr, argv, environ);
      posix_spawn_file_actions_destroy(&fa);
      posix_spawnattr_destroy(&attr);
      if (rc != 0) throw WorkerFailure("cannot start worker " + std::to_string(i) + ": " + std::strerror(rc));
      p.report = std::move(rep_r);
      p.control = std::move(ctl_w);
      procs_.push_back(std::move(p));
    }
  }

  // Waits until every worker has sent an event named `name` (held in Proc::last).
  void collect(const std::string& name) {
    auto progress = Clock::now();
    for (;;) {
      if (g_signal != 0) throw Interrupted(std::string("interrupted by ") + strsignal(g_signal));
      bool all = true;
      for (Proc& p : procs_) {
        if (p.fresh && p.last.value("event", "") == "error") fail(p, p.last.value("message", "unknown error"));
        if (!p.fresh || p.last.value("event", "") != name) {
          all = false;
          if (p.eof) fail(p, "");
        }
      }
      if (all) break;
      if (pump()) {
        progress = Clock::now();
      } else if (o_.stall_timeout > 0 &&
                 Clock::now() - progress > std::chrono::seconds(o_.stall_timeout)) {
        for (Proc& p : procs_) {
          if (!p.fresh) {
            fail(p, "made no progress for " + std::to_string(o_.stall_timeout) +
                        " s (I/O stuck, or the process stopped; see --stall-timeout)");
          }
        }
      }
    }
    for (Proc& p : procs_) p.fresh = false;
  }

  // Reads what the workers sent; returns whether any event arrived.
  bool pump() {
    std::vector<pollfd> fds;
    for (Proc& p : procs_) {
      if (!p.eof) fds.push_back(pollfd{p.report.get(), POLLIN, 0});
    }
    if (fds.empty()) return false;
    const int n = ::poll(fds.data(), fds.size(), 200);
    if (n < 0) {
      if (errno == EINTR) return false;
      throw_io_error(errno, "poll", "");
    }
    bool arrived = false;
    for (const pollfd& f : fds) {
      if (f.revents == 0) continue;
      Proc& p = *std::find_if(procs_.begin(), procs_.end(), [&](const Proc& q) { return q.report.get() == f.fd; });
      char buf[65536];
      const ssize_t got = ::read(p.report.get(), buf, sizeof buf);
      if (got < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        throw_io_error(errno, "read from worker", "");
      }
      if (got == 0) {
        p.eof = true;
        continue;
      }
      p.partial.append(buf, static_cast<std::size_t>(got));
      for (std::size_t nl; (nl = p.partial.find('\n')) != std::string::npos;) {
        const std::string line = p.partial.substr(0, nl);
        p.partial.erase(0, nl + 1);
        nlohmann::json ev;
        try {
          ev = nlohmann::json::parse(line);
        } catch (const std::exception& e) {
          fail(p, std::string("sent a line that is not JSON: ") + e.what());
        }
        if (ev.value("event", "") == "loop") {
          const auto loop = ev.value("loop", 0u);
          if (loop >= p.loops.size()) p.loops.resize(loop + 1);
          p.loops[loop] = ev;
        }
        p.last = std::move(ev);
        p.fresh = true;
        arrived = true;
      }
    }
    return arrived;
  }

  void release() {
    for (Proc& p : procs_) {
      const char go = 'g';
      ssize_t n;
      do {
        n = ::write(p.control.get(), &go, 1);
      } while (n < 0 && errno == EINTR);
      if (n != 1) fail(p, "");  // its end of the pipe is closed: it has exited; say how
    }
  }

  [[noreturn]] void fail(Proc& p, const std::string& message) {
    std::string why = message;
    if (why.empty()) why = describe_status(wait_exit(p, std::chrono::seconds(5))) + " without reporting";
    kill_all();  // the others wait at a barrier that will never open
    throw WorkerFailure("worker " + std::to_string(p.index) + " (pid " + std::to_string(p.pid) + ", " +
                        paths_[p.index] + ") failed: " + why);
  }

  // Waits at most `limit` for p to exit, then kills it; returns its wait status.
  int wait_exit(Proc& p, std::chrono::seconds limit) {
    if (p.reaped || p.pid <= 0) return p.status;
    const auto deadline = Clock::now() + limit;
    for (;;) {
      const pid_t r = ::waitpid(p.pid, &p.status, WNOHANG);
      if (r == p.pid || (r < 0 && errno != EINTR)) break;
      if (Clock::now() > deadline) {
        ::kill(p.pid, SIGKILL);
        while (::waitpid(p.pid, &p.status, 0) < 0 && errno == EINTR) {
        }
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    p.reaped = true;
    return p.status;
  }

  // After "done": every worker must exit cleanly, soon.
  void reap(Proc& p) {
    const int status = wait_exit(p, std::chrono::seconds(30));
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      throw WorkerFailure("worker " + std::to_string(p.index) + " (pid " + std::to_string(p.pid) + ") " +
                          describe_status(status) + " after finishing");
    }
  }

  void kill_all() noexcept {
    for (Proc& p : procs_) {
      if (!p.reaped && p.pid > 0) ::kill(p.pid, SIGKILL);
    }
    for (Proc& p : procs_) {
      if (p.reaped || p.pid <= 0) continue;
      while (::waitpid(p.pid, &p.status, 0) < 0 && errno == EINTR) {
      }
      p.reaped = true;
    }
  }

  void progress(unsigned done, unsigned total) const {
    if (o_.json || total < 2 || !::isatty(STDERR_FILENO)) return;
    std::fprintf(stderr, "\r%s: loop %u/%u%s", write_ ? "write" : "read", done, total, done == total ? "\n" : "");
  }

  nlohmann::json summarize(const std::vector<double>& e2e) const {
    const unsigned warmup = o_.warmup_loops;
    nlohmann::json loops = nlohmann::json::array();
    std::vector<double> task_per_proc(procs_.size(), 0.0);
    std::uint64_t total_bytes = 0, requests = 0, resubmits = 0;
    double e2e_total = 0, cpu = 0, submit = 0, reap_s = 0;
    Histogram hist;
    bool validated = true;
    std::set<std::string> engines, notes;
    bool direct_all = true;
    nlohmann::json processes = nlohmann::json::array();
    for (const Proc& p : procs_) {
      processes.push_back({{"index", p.index}, {"pid", p.pid}, {"path", paths_[p.index]}, {"device", o_.device_for(p.index)}});
    }
    for (const Proc& p : procs_) validated = validated && p.last.value("validated", false);
    for (unsigned loop = warmup; loop < e2e.size(); ++loop) {
      double task = 0;
      std::uint64_t bytes = 0;
      for (std::size_t k = 0; k < procs_.size(); ++k) {
        const nlohmann::json& ev = loop_event(procs_[k], loop);
        const double io = ev.at("call_seconds");  // the whole call, as the harness times it
        task = std::max(task, io);
        task_per_proc[k] += io;
        bytes += ev.at("bytes").get<std::uint64_t>();
        cpu += ev.at("cpu_seconds").get<double>();
        submit += ev.at("submit_seconds").get<double>();
        reap_s += ev.at("reap_seconds").get<double>();
        requests += ev.at("requests").get<std::uint64_t>();
        resubmits += ev.at("resubmits").get<std::uint64_t>();
        direct_all = direct_all && ev.at("direct").get<bool>();
        engines.insert(ev.at("engine").get<std::string>());
        for (const char* key : {"engine_note", "direct_note"}) {
          const std::string n = ev.at(key);
          if (!n.empty()) notes.insert(n);
        }
        hist.merge(Histogram::from_json(ev.at("latency")));
      }
      total_bytes += bytes;
      e2e_total += e2e[loop];
      loops.push_back({{"loop", loop - warmup},
                       {"bytes", bytes},
                       {"task_latency_s", task},
                       {"task_gib_per_s", task > 0 ? static_cast<double>(bytes) / kGiB / task : 0},
                       {"e2e_latency_s", e2e[loop]},
                       {"e2e_gib_per_s", e2e[loop] > 0 ? static_cast<double>(bytes) / kGiB / e2e[loop] : 0}});
    }
    const double task_latency = *std::max_element(task_per_proc.begin(), task_per_proc.end());
    const double gib = static_cast<double>(total_bytes) / kGiB;
    std::string engine;
    for (const auto& e : engines) engine += (engine.empty() ? "" : ",") + e;
    return {{"op", write_ ? "write" : "read"},
            {"processes", processes},
            {"bytes_per_process", loop_event(procs_[0], warmup).at("bytes")},
            {"loops", loops},
            {"aggregate",
             {{"bytes", total_bytes},
              {"task_latency_s", task_latency},
              {"task_gib_per_s", task_latency > 0 ? gib / task_latency : 0},
              {"e2e_latency_s", e2e_total},
              {"e2e_gib_per_s", e2e_total > 0 ? gib / e2e_total : 0}}},
            {"latency_us",
             {{"requests", hist.count()},
              {"p50", hist.percentile_us(0.50)},
              {"p99", hist.percentile_us(0.99)},
              {"p99.9", hist.percentile_us(0.999)},
              {"max", hist.max_us()}}},
            {"requests", requests},
            {"resubmits", resubmits},
            {"submit_seconds", submit},
            {"reap_seconds", reap_s},
            {"cpu_seconds", cpu},
            {"cpu_seconds_per_gib", gib > 0 ? cpu / gib : 0},
            {"engine", engine},
            {"direct", direct_all},
            {"notes", notes},
            {"validated", o_.validate && validated}};
  }

  const nlohmann::json& loop_event(const Proc& p, unsigned loop) const {
    if (loop < p.loops.size() && !p.loops[loop].is_null()) return p.loops[loop];
    throw WorkerFailure("worker " + std::to_string(p.index) + " sent no figures for loop " + std::to_string(loop));
  }

  const BenchOptions& o_;
  bool write_;
  std::vector<std::string> paths_;
  std::vector<Proc> procs_;
};

std::string human_size(std::uint64_t b) { return format_bytes(b); }

void print_phase(const BenchOptions& o, const nlohmann::json& ph) {
  const bool write = ph.at("op") == "write";
  const char* Op = write ? "Write" : "Read";
  const auto& agg = ph.at("aggregate");
  const auto& lat = ph.at("latency_us");
  std::printf("\n%s: %s per process x %u process%s, %u loop%s (+%u warmup)\n", write ? "write" : "read",
              human_size(ph.at("bytes_per_process").get<std::uint64_t>()).c_str(), o.threads, o.threads == 1 ? "" : "es",
              o.loops, o.loops == 1 ? "" : "s", o.warmup_loops);
  if (o.gpu) {
    std::set<std::string> devices;
    for (unsigned i = 0; i < o.threads; ++i) devices.insert(o.device_for(i));
    std::string names;
    for (const auto& d : devices) names += (names.empty() ? "" : ", ") + d;
    std::printf("  tensor in device memory (%s), staged through %u x %s pinned chunks per thread\n", names.c_str(),
                o.config.device_chunks, human_size(o.config.device_chunk_size).c_str());
  }
  std::printf("  api %s, block %s, queue depth %u, %s, %s, engine %s, O_DIRECT %s\n",
              o.handle ? ("handle (io_parallel " + std::to_string(o.config.intra_op_parallelism) + ")").c_str() : "basic",
              human_size(o.config.block_size).c_str(), o.config.queue_depth,
              o.config.overlap_events ? "overlapped" : "sequential",
              o.config.single_submit ? "single submit" : "batch submit", ph.at("engine").get<std::string>().c_str(),
              ph.at("direct").get<bool>() ? "yes" : "no");
  std::printf("  %4s  %14s  %12s  %14s  %12s\n", "loop", "task latency", "task speed", "e2e latency", "e2e speed");
  for (const auto& l : ph.at("loops")) {
    std::printf("  %4d  %12.4f s  %7.2f GiB/s  %12.4f s  %7.2f GiB/s\n", l.at("loop").get<int>(),
                l.at("task_latency_s").get<double>(), l.at("task_gib_per_s").get<double>(),
                l.at("e2e_latency_s").get<double>(), l.at("e2e_gib_per_s").get<double>());
  }
  // The reference harness's lines, in its exact form (GB = 2^30 bytes there too).
  std::printf("Task %s Latency = %.4f sec\n", Op, agg.at("task_latency_s").get<double>());
  std::printf("Task %s Speed = %.2f GB/sec\n", Op, agg.at("task_gib_per_s").get<double>());
  std::printf("E2E %s Latency = %.4f sec\n", Op, agg.at("e2e_latency_s").get<double>());
  std::printf("E2E %s Speed = %.2f GB/sec\n", Op, agg.at("e2e_gib_per_s").get<double>());
  std::printf("  request latency: p50 %.0f us, p99 %.0f us, p99.9 %.0f us, max %.0f us (%llu requests, %llu resumed)\n",
              lat.at("p50").get<double>(), lat.at("p99").get<double>(), lat.at("p99.9").get<double>(),
              lat.at("max").get<double>(), static_cast<unsigned long long>(lat.at("requests").get<std::uint64_t>()),
              static_cast<unsigned long long>(ph.at("resubmits").get<std::uint64_t>()));
  std::printf("  submit %.4f s, reap %.4f s (summed over threads); CPU %.3f s per GiB\n",
              ph.at("submit_seconds").get<double>(), ph.at("reap_seconds").get<double>(),
              ph.at("cpu_seconds_per_gib").get<double>());
  if (o.validate) std::printf("  validation: %s\n", ph.at("validated").get<bool>() ? "passed" : "NOT validated");
  for (const auto& n : ph.at("notes")) std::printf("  note: %s\n", n.get<std::string>().c_str());
}

void remove_files(const std::vector<std::string>& paths) {
  for (const auto& p : paths) {
    std::error_code ec;
    std::filesystem::remove(p, ec);
  }
}

}  // namespace

int run_bench(const BenchOptions& o) {
  ::signal(SIGPIPE, SIG_IGN);   // a dead worker's pipe is reported, not fatal
  ::signal(SIGCHLD, SIG_DFL);   // an inherited SIG_IGN would make waitpid useless
  struct sigaction sa {};
  sa.sa_handler = on_signal;    // no SA_RESTART: poll returns, the run stops and cleans up
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  struct Step {
    bool write;
    std::vector<std::string> paths;
  };
  std::vector<Step> steps;
  std::vector<std::string> write_paths;
  for (unsigned i = 0; i < o.threads; ++i) write_paths.push_back(o.path_for(true, i));
  if (o.quick) {
    steps.push_back({true, write_paths});
    steps.push_back({false, write_paths});  // each process reads back its own file
  } else {
    if (!o.read_file.empty()) {
      std::vector<std::string> paths;
      for (unsigned i = 0; i < o.threads; ++i) paths.push_back(o.path_for(false, i));
      steps.push_back({false, paths});
    }
    if (!o.write_file.empty()) steps.push_back({true, write_paths});
  }

  nlohmann::json report = {{"swapio_bench", 1}, {"config", o.to_json()}, {"phases", nlohmann::json::array()}};
  if (!o.json) {
    std::printf("swapio bench: %u process%s; GiB/s = 2^30 bytes/s (\"GB\" in the Task/E2E lines is 2^30 bytes too)\n",
                o.threads, o.threads == 1 ? "" : "es");
  }
  int status = 0;
  for (const Step& step : steps) {
    try {
      Phase phase(o, step.write, step.paths);
      nlohmann::json ph = phase.run();
      if (!o.json) print_phase(o, ph);
      report["phases"].push_back(std::move(ph));
    } catch (const std::exception& e) {
      std::fflush(stdout);
      std::fprintf(stderr, "swapio bench: %s\n", e.what());
      if (step.write) remove_files(step.paths);  // no partial files left behind
      report["error"] = e.what();
      status = g_signal != 0 ? 128 + g_signal : 1;
      break;
    }
  }
  if (o.quick) remove_files(write_paths);
  if (o.json) std::cout << report.dump(2) << std::endl;
  return status;
}

}  // namespace swapio::cli
