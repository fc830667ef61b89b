// The worker processes of one bench phase: spawning, barriers, event lines, failures, reaping.
#include "bench/bench_phase_workers.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <thread>

#include "bench/bench_phase.hpp"
#include "swapio/config.hpp"
#include "swapio/error.hpp"

namespace swapio::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Pipe ends clear of 3 and 4, where the worker expects its pipes.
int high_fd(int fd) { return move_descriptor_above(fd, 10); }

// Waits at most `limit` for p to exit, then kills it; returns its wait status.
int wait_exit(WorkerProc& p, std::chrono::seconds limit) {
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

}  // namespace

PhaseWorkers::PhaseWorkers(const BenchOptions& o, bool write, std::vector<std::string> paths) {
  launch_.verb = "__worker";
  launch_.stall_timeout = o.stall_timeout;
  launch_.replaces_files = write && o.config.atomic_replace;
  const nlohmann::json options = o.to_json();
  for (unsigned i = 0; i < o.threads; ++i) {
    launch_.specs.push_back(nlohmann::json{{"options", options}, {"write", write}, {"path", paths[i]},
                                           {"process", i}, {"device", o.device_for(i)}}.dump());
  }
  launch_.labels = std::move(paths);
}

void PhaseWorkers::spawn_all() {
  for (unsigned i = 0; i < launch_.specs.size(); ++i) {
    int rep[2], ctl[2];
    if (::pipe2(rep, O_CLOEXEC) != 0) throw_io_error(errno, "pipe2", "");
    FileDescriptor rep_r(high_fd(rep[0])), rep_w(high_fd(rep[1]));
    if (::pipe2(ctl, O_CLOEXEC) != 0) throw_io_error(errno, "pipe2", "");
    FileDescriptor ctl_r(high_fd(ctl[0])), ctl_w(high_fd(ctl[1]));
    Child::Options co;
    co.dup2 = {{rep_w.get(), 3}, {ctl_r.get(), 4}};
    co.close_from = 5;  // nothing else of ours, or our caller's
    co.default_signals = true;
    co.own_group = true;  // what a worker leaves running (a sanitizer's helper) goes with it
    co.exe = "/proc/self/exe";  // the very binary running, even if replaced on disk
    WorkerProc p;
    p.index = i;
    try {
      p.child = Child::spawn({"swapio", launch_.verb, launch_.specs[i]}, co);
    } catch (const std::exception& e) {
      throw WorkerFailure("cannot start worker " + std::to_string(i) + ": " + e.what());
    }
    p.pid = p.child.pid();
    p.report = std::move(rep_r);
    p.control = std::move(ctl_w);
    procs_.push_back(std::move(p));
  }
}

void PhaseWorkers::collect(const std::string& name) {
  auto progress = Clock::now();
  for (;;) {
    throw_if_interrupted();
    bool all = true;
    for (WorkerProc& p : procs_) {
      if (p.fresh && p.last.value("event", "") == "error") fail(p, p.last.value("message", "unknown error"));
      if (!p.fresh || p.last.value("event", "") != name) {
        all = false;
        if (p.eof) fail(p, "");
      }
    }
    if (all) break;
    if (pump()) {
      progress = Clock::now();
    } else if (launch_.stall_timeout > 0 &&
               Clock::now() - progress > std::chrono::seconds(launch_.stall_timeout)) {
      for (WorkerProc& p : procs_) {
        if (!p.fresh) {
          fail(p, "made no progress for " + std::to_string(launch_.stall_timeout) +
                      " s (I/O stuck, or the process stopped; see --stall-timeout)");
        }
      }
    }
  }
  for (WorkerProc& p : procs_) p.fresh = false;
}

bool PhaseWorkers::pump() {
  std::vector<pollfd> fds;
  for (WorkerProc& p : procs_) {
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
    WorkerProc& p = *std::find_if(procs_.begin(), procs_.end(), [&](const WorkerProc& q) { return q.report.get() == f.fd; });
    if (read_events(p)) arrived = true;
  }
  return arrived;
}

bool PhaseWorkers::read_events(WorkerProc& p) {
  char buf[65536];
  const ssize_t got = ::read(p.report.get(), buf, sizeof buf);
  if (got < 0) {
    if (errno == EINTR || errno == EAGAIN) return false;
    throw_io_error(errno, "read from worker", "");
  }
  if (got == 0) {
    p.eof = true;
    return false;
  }
  p.partial.append(buf, static_cast<std::size_t>(got));
  bool arrived = false;
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
  return arrived;
}

void PhaseWorkers::release() {
  for (WorkerProc& p : procs_) {
    const char go = 'g';
    ssize_t n;
    do {
      n = ::write(p.control.get(), &go, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) fail(p, "");  // its end of the pipe is closed: it has exited; say how
  }
}

void PhaseWorkers::fail(WorkerProc& p, const std::string& message) {
  std::string why = message;
  if (why.empty()) why = describe_status(wait_exit(p, std::chrono::seconds(5))) + " without reporting";
  kill_all();  // the others wait at a barrier that will never open
  throw WorkerFailure("worker " + std::to_string(p.index) + " (pid " + std::to_string(p.pid) + ", " +
                      launch_.labels[p.index] + ") failed: " + why);
}

void PhaseWorkers::reap_all() {
  for (WorkerProc& p : procs_) reap(p);
}

void PhaseWorkers::reap(WorkerProc& p) {
  const int status = wait_exit(p, std::chrono::seconds(30));
  if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    throw WorkerFailure("worker " + std::to_string(p.index) + " (pid " + std::to_string(p.pid) + ") " +
                        describe_status(status) + " after finishing");
  }
}

// All killed first, then all reaped: none waits for another's death. A replacing writer that
// was killed leaves its temporary: it was this run's, so it goes too.
void PhaseWorkers::kill_all() noexcept {
  for (WorkerProc& p : procs_) p.child.signal(SIGKILL);
  for (WorkerProc& p : procs_) p.child.kill();
  if (launch_.replaces_files) {
    for (const WorkerProc& p : procs_) (void)remove_replacement_temporaries(launch_.labels[p.index], p.pid);
  }
}

}  // namespace swapio::cli
