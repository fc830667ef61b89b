#include "bench_phase.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <thread>

#include "histogram.hpp"
#include "subprocess.hpp"
#include "swapio/config.hpp"
#include "swapio/error.hpp"
#include "swapio/file.hpp"

namespace swapio::cli {
namespace {

using Clock = std::chrono::steady_clock;

// A string field, or "" where it is missing or not a string (null: not measured).
std::string text_of(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string percent(double fraction) {
  char b[32];
  std::snprintf(b, sizeof b, fraction >= 0.1 ? "%.0f%%" : "%.1f%%", fraction * 100);
  return b;
}



// One worker process of a phase.
struct Proc {
  unsigned index = 0;
  pid_t pid = -1;          // for messages, also after it was reaped
  Child child;
  FileDescriptor report;   // worker -> parent, JSON lines
  FileDescriptor control;  // parent -> worker, one byte per barrier
  std::string partial;
  nlohmann::json last;              // the latest event
  bool fresh = false;               // `last` not consumed by a barrier yet
  std::vector<nlohmann::json> loops;  // loop events, by loop index
  nlohmann::json memory;              // the "ready" event's layout of the I/O memory
  bool eof = false;
};

// Pipe ends clear of 3 and 4, where the worker expects its pipes.
int high_fd(int fd) { return move_descriptor_above(fd, 10); }

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
    for (Proc& p : procs_) p.memory = p.last.value("memory", nlohmann::json());
    const unsigned total = o_.warmup_loops + o_.loops;
    std::vector<double> e2e;
    try {
      for (unsigned loop = 0; loop < total; ++loop) {
        progress(loop, total);
        const auto t0 = Clock::now();
        release();
        collect("loop");
        e2e.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      }
    } catch (WorkerFailure& e) {
      // The loops every worker finished keep their figures.
      if (e2e.size() > o_.warmup_loops) {
        try {
          e.finished = summarize(e2e);
          e.finished["complete"] = false;
          e.finished["loops_finished"] = e2e.size() - o_.warmup_loops;
          e.finished["error"] = e.what();
        } catch (const std::exception&) {
          e.finished = nullptr;  // a worker's figures were incomplete: nothing to keep
        }
      }
      throw;
    }
    progress(total, total);
    release();
    collect("done");
    for (Proc& p : procs_) reap(p);
    return summarize(e2e);
  }

 private:
  void spawn_all() {
    nlohmann::json options = o_.to_json();
    for (unsigned i = 0; i < o_.threads; ++i) {
      int rep[2], ctl[2];
      if (::pipe2(rep, O_CLOEXEC) != 0) throw_io_error(errno, "pipe2", "");
      FileDescriptor rep_r(high_fd(rep[0])), rep_w(high_fd(rep[1]));
      if (::pipe2(ctl, O_CLOEXEC) != 0) throw_io_error(errno, "pipe2", "");
      FileDescriptor ctl_r(high_fd(ctl[0])), ctl_w(high_fd(ctl[1]));
      const std::string spec = nlohmann::json{{"options", options}, {"write", write_}, {"path", paths_[i]},
                                              {"process", i}, {"device", o_.device_for(i)}}.dump();
      Child::Options co;
      co.dup2 = {{rep_w.get(), 3}, {ctl_r.get(), 4}};
      co.close_from = 5;  // nothing else of ours, or our caller's
      co.default_signals = true;
      co.own_group = true;  // what a worker leaves running (a sanitizer's helper) goes with it
      co.exe = "/proc/self/exe";  // the very binary running, even if replaced on disk
      Proc p;
      p.index = i;
      try {
        p.child = Child::spawn({"swapio", "__worker", spec}, co);
      } catch (const std::exception& e) {
        throw WorkerFailure("cannot start worker " + std::to_string(i) + ": " + e.what());
      }
      p.pid = p.child.pid();
      p.report = std::move(rep_r);
      p.control = std::move(ctl_w);
      procs_.push_back(std::move(p));
    }
  }

  // Waits until every worker has sent an event named `name` (held in Proc::last).
  void collect(const std::string& name) {
    auto progress = Clock::now();
    for (;;) {
      throw_if_interrupted();
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
  static int wait_exit(Proc& p, std::chrono::seconds limit) {
    const auto deadline = Clock::now() + limit;
    while (!p.child.exited()) {
      if (Clock::now() > deadline) {
        p.child.kill();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return p.child.wait();
  }

  // After "done": every worker must exit cleanly, soon.
  void reap(Proc& p) {
    const int status = wait_exit(p, std::chrono::seconds(30));
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      throw WorkerFailure("worker " + std::to_string(p.index) + " (pid " + std::to_string(p.pid) + ") " +
                          describe_status(status) + " after finishing");
    }
  }

  // All killed first, then all reaped: none waits for another's death. A replacing writer that
  // was killed leaves its temporary: it was this run's, so it goes too.
  void kill_all() noexcept {
    for (Proc& p : procs_) p.child.signal(SIGKILL);
    for (Proc& p : procs_) p.child.kill();
    if (write_ && o_.config.atomic_replace) {
      for (const Proc& p : procs_) (void)remove_replacement_temporaries(paths_[p.index], p.pid);
    }
  }

  void progress(unsigned done, unsigned total) const {
    if (o_.json || total < 2 || !::isatty(STDERR_FILENO)) return;
    std::fprintf(stderr, "\r%s: loop %u/%u%s", write_ ? "write" : "read", done, total, done == total ? "\n" : "");
  }

  // The phase's figures over its processes and timed loops.
  struct Figures {
    struct Loop {
      std::uint64_t bytes = 0;
      double task = 0;  // the slowest process's call
      double e2e = 0;
    };
    std::vector<Loop> loops;
    std::uint64_t bytes = 0, requests = 0, resubmits = 0;
    double task_latency = 0, e2e_latency = 0, cpu = 0, submit = 0, reap = 0;
    Histogram latency;
    bool validated = true, direct = true;
    std::set<std::string> engines, notes, checks;
  };

  Figures aggregate(const std::vector<double>& e2e) const {
    Figures f;
    std::vector<double> task_per_proc(procs_.size(), 0.0);
    for (const Proc& p : procs_) {
      f.validated = f.validated && p.last.value("validated", false);
      if (const std::string c = p.last.value("validation", ""); !c.empty()) f.checks.insert(c);
    }
    for (unsigned loop = o_.warmup_loops; loop < e2e.size(); ++loop) {
      Figures::Loop l;
      l.e2e = e2e[loop];
      for (std::size_t k = 0; k < procs_.size(); ++k) {
        const nlohmann::json& ev = loop_event(procs_[k], loop);
        const double io = ev.at("call_seconds");  // the whole call, as the harness times it
        l.task = std::max(l.task, io);
        task_per_proc[k] += io;
        l.bytes += ev.at("bytes").get<std::uint64_t>();
        f.cpu += ev.at("cpu_seconds").get<double>();
        f.submit += ev.at("submit_seconds").get<double>();
        f.reap += ev.at("reap_seconds").get<double>();
        f.requests += ev.at("requests").get<std::uint64_t>();
        f.resubmits += ev.at("resubmits").get<std::uint64_t>();
        f.direct = f.direct && ev.at("direct").get<bool>();
        f.engines.insert(ev.at("engine").get<std::string>());
        for (const char* key : {"engine_note", "direct_note"}) {
          const std::string n = ev.at(key);
          if (!n.empty()) f.notes.insert(n);
        }
        f.latency.merge(Histogram::from_json(ev.at("latency")));
      }
      f.bytes += l.bytes;
      f.e2e_latency += l.e2e;
      f.loops.push_back(l);
    }
    f.task_latency = *std::max_element(task_per_proc.begin(), task_per_proc.end());
    return f;
  }

  nlohmann::json summarize(const std::vector<double>& e2e) const {
    const Figures f = aggregate(e2e);
    const auto gib_per_s = [](std::uint64_t bytes, double seconds) {
      return seconds > 0 ? static_cast<double>(bytes) / static_cast<double>(kGiB) / seconds : 0.0;
    };
    nlohmann::json loops = nlohmann::json::array();
    for (std::size_t i = 0; i < f.loops.size(); ++i) {
      const Figures::Loop& l = f.loops[i];
      loops.push_back({{"loop", i},
                       {"bytes", l.bytes},
                       {"task_latency_s", l.task},
                       {"task_gib_per_s", gib_per_s(l.bytes, l.task)},
                       {"e2e_latency_s", l.e2e},
                       {"e2e_gib_per_s", gib_per_s(l.bytes, l.e2e)}});
    }
    nlohmann::json processes = nlohmann::json::array();
    for (const Proc& p : procs_) {
      processes.push_back({{"index", p.index}, {"pid", p.pid}, {"path", paths_[p.index]}, {"device", o_.device_for(p.index)}});
    }
    const double gib = static_cast<double>(f.bytes) / static_cast<double>(kGiB);
    std::string engine;
    for (const auto& e : f.engines) engine += (engine.empty() ? "" : ",") + e;
    return {{"op", write_ ? "write" : "read"},
            {"complete", true},
            {"processes", processes},
            {"bytes_per_process", loop_event(procs_[0], o_.warmup_loops).at("bytes")},
            {"loops", loops},
            {"aggregate",
             {{"bytes", f.bytes},
              {"task_latency_s", f.task_latency},
              {"task_gib_per_s", gib_per_s(f.bytes, f.task_latency)},
              {"e2e_latency_s", f.e2e_latency},
              {"e2e_gib_per_s", gib_per_s(f.bytes, f.e2e_latency)}}},
            {"latency_us",
             {{"requests", f.latency.count()},
              {"p50", f.latency.percentile_us(0.50)},
              {"p99", f.latency.percentile_us(0.99)},
              {"p99.9", f.latency.percentile_us(0.999)},
              {"max", f.latency.max_us()}}},
            {"requests", f.requests},
            {"resubmits", f.resubmits},
            {"submit_seconds", f.submit},
            {"reap_seconds", f.reap},
            {"cpu_seconds", f.cpu},
            {"cpu_seconds_per_gib", gib > 0 ? f.cpu / gib : 0},
            {"engine", engine},
            {"direct", f.direct},
            {"notes", f.notes},
            {"validated", o_.validate && f.validated},
            {"validation", f.checks},
            {"memory_layout", memory_layout(f.direct)}};
  }

  // Every process's I/O memory layout, the least contiguous of them, and a warning for each
  // process below kLowContiguity. With buffered I/O the kernel copies through the page cache, so
  // the tensor's layout costs nothing: no warning.
  nlohmann::json memory_layout(bool direct) const {
    nlohmann::json processes = nlohmann::json::array(), warnings = nlohmann::json::array();
    std::optional<double> least;
    for (const Proc& p : procs_) {
      nlohmann::json m = p.memory.is_object() ? p.memory : nlohmann::json{{"memory", "unknown"}, {"source", nullptr}};
      m["index"] = p.index;
      if (const auto c = m.find("contiguous_2m"); c != m.end() && c->is_number()) {
        least = std::min(least.value_or(1.0), c->get<double>());
      }
      if (const std::string w = layout_warning(p.index, m); !w.empty() && direct) warnings.push_back(w);
      processes.push_back(std::move(m));
    }
    return {{"contiguous_2m", least ? nlohmann::json(*least) : nlohmann::json()},
            {"low_below", kLowContiguity},
            {"direct", direct},
            {"processes", processes},
            {"warnings", warnings}};
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

}  // namespace

std::string layout_warning(unsigned process, const nlohmann::json& memory) {
  const auto c = memory.find("contiguous_2m");
  if (c == memory.end() || !c->is_number() || c->get<double>() >= kLowContiguity) return "";
  const bool physical = text_of(memory, "source") == "pagemap";
  std::string why = physical ? "pagemap" : "smaps: huge pages only, physical addresses need root";
  if (const auto w = memory.find("worst_segments_per_mib"); physical && w != memory.end() && w->is_number()) {
    why += ", up to " + std::to_string(w->get<std::size_t>()) + " segments per MiB";
  }
  return "process " + std::to_string(process) + ": only " + percent(c->get<double>()) +
         " of its I/O memory is physically contiguous in 2 MiB pieces (" + why +
         "): requests need more DMA segments than many devices take in one and are split, which can halve the speed "
         "(see \"Memory layout\" in the README)";
}

std::string layout_line(const nlohmann::json& layout) {
  const auto& procs = layout.at("processes");
  const auto least = layout.at("contiguous_2m");
  if (!least.is_number()) {
    const std::string what = procs.empty() || text_of(procs.at(0), "memory").empty() ? "unknown" : text_of(procs.at(0), "memory");
    return what.starts_with("staging ring") ? "swapio's " + what + ": its own huge pages, not measured"
                                            : what + ": layout not readable (/proc/self/pagemap, smaps)";
  }
  bool physical = true;
  std::size_t worst = 0;
  for (const auto& p : procs) {
    if (!p.contains("contiguous_2m") || !p.at("contiguous_2m").is_number()) continue;  // not measured
    physical = physical && text_of(p, "source") == "pagemap";
    if (const auto w = p.find("worst_segments_per_mib"); w != p.end() && w->is_number()) worst = std::max(worst, w->get<std::size_t>());
  }
  const bool buffered = layout.contains("direct") && layout.at("direct") == false;
  return std::string(physical ? "" : "about ") + percent(least.get<double>()) +
         " physically contiguous in >= 2 MiB pieces" + (procs.size() > 1 ? " (the least of the processes)" : "") +
         (physical ? "; at most " + std::to_string(worst) + " segment" + (worst == 1 ? "" : "s") + " per MiB (pagemap)"
                   : " (smaps: huge pages; physical addresses need root)") +
         (buffered ? "; buffered I/O copies through the page cache, so it does not matter here" : "");
}

nlohmann::json run_phase(const BenchOptions& o, bool write, const std::vector<std::string>& paths) {
  Phase phase(o, write, paths);
  return phase.run();
}

}  // namespace swapio::cli
