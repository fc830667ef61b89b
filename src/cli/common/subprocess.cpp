#include "common/subprocess.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "swapio/error.hpp"
#include "swapio/file.hpp"

extern char** environ;

namespace swapio::cli {
namespace {

volatile std::sig_atomic_t g_signal = 0;
extern "C" void on_signal(int sig) { g_signal = sig; }

// The interrupts this process was started with ignored (a background job of a script, nohup):
// they stay ignored, here and in the children, as a shell's convention has it.
sigset_t g_inherited_ignored;
bool g_ignored_known = false;

}  // namespace

void catch_interrupts() {
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGCHLD, SIG_DFL);
  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART
  sigemptyset(&sa.sa_mask);
  if (!g_ignored_known) sigemptyset(&g_inherited_ignored);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) != 0) continue;
    if (!g_ignored_known && old.sa_handler == SIG_IGN) sigaddset(&g_inherited_ignored, sig);
    if (sigismember(&g_inherited_ignored, sig) == 1) continue;
    ::sigaction(sig, &sa, nullptr);
  }
  g_ignored_known = true;
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // best effort: without it a grandchild is stopped, not reaped here
}

int interrupt_signal() noexcept { return g_signal; }

void stop_orphans() noexcept {
  // The children are the processes whose parent is this one (/proc/PID/stat's fourth field).
  const pid_t self = ::getpid();
  if (DIR* proc = ::opendir("/proc")) {
    while (const dirent* e = ::readdir(proc)) {
      char* end = nullptr;
      const long pid = std::strtol(e->d_name, &end, 10);
      if (end == e->d_name || *end != '\0') continue;
      char path[64], stat[512];
      std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
      const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      const ssize_t n = ::read(fd, stat, sizeof stat - 1);
      ::close(fd);
      if (n <= 0) continue;
      stat[n] = '\0';
      const char* close = std::strrchr(stat, ')');
      long ppid = 0;
      char state = 0;
      if (close != nullptr && std::sscanf(close + 1, " %c %ld", &state, &ppid) == 2 && ppid == self) {
        ::kill(static_cast<pid_t>(pid), SIGKILL);
      }
    }
    ::closedir(proc);
  }
  while (::waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
  }
}

void throw_if_interrupted() {
  if (g_signal != 0) throw Interrupted(std::string("interrupted by ") + strsignal(g_signal));
}

Child Child::spawn(const std::vector<std::string>& argv, const Options& o) {
  if (argv.empty()) throw ConfigError("spawn: no program");
  posix_spawn_file_actions_t fa;
  if (int rc = posix_spawn_file_actions_init(&fa); rc != 0) throw_io_error(rc, "posix_spawn_file_actions_init", argv[0]);
  posix_spawnattr_t attr;
  if (int rc = posix_spawnattr_init(&attr); rc != 0) {
    posix_spawn_file_actions_destroy(&fa);
    throw_io_error(rc, "posix_spawnattr_init", argv[0]);
  }
  int rc = 0;
  if (o.stdin_null) rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  for (const auto& [from, to] : o.dup2) {
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&fa, from, to);
  }
  if (rc == 0 && o.close_from >= 0) rc = posix_spawn_file_actions_addclosefrom_np(&fa, o.close_from);
  short flags = 0;
  if (rc == 0 && o.own_group) {
    rc = posix_spawnattr_setpgroup(&attr, 0);
    flags |= POSIX_SPAWN_SETPGROUP;
  }
  if (rc == 0 && o.default_signals) {
    sigset_t def, none;
    sigemptyset(&def);
    for (int sig : {SIGPIPE, SIGCHLD}) sigaddset(&def, sig);  // ours are not theirs
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
      // Default for the child, unless this process was started with it ignored.
      if (!g_ignored_known || sigismember(&g_inherited_ignored, sig) != 1) sigaddset(&def, sig);
    }
    sigemptyset(&none);
    rc = posix_spawnattr_setsigdefault(&attr, &def);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &none);
    flags |= POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
  }
  if (rc == 0 && flags != 0) rc = posix_spawnattr_setflags(&attr, flags);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  Child child;
  child.group_ = o.own_group;
  if (rc == 0) {
    const char* file = o.exe.empty() ? args[0] : o.exe.c_str();
    rc = o.search_path ? ::posix_spawnp(&child.pid_, file, &fa, &attr, args.data(), environ)
                       : ::posix_spawn(&child.pid_, file, &fa, &attr, args.data(), environ);
    if (rc != 0) child.pid_ = -1;
  }
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw_io_error(rc, "start", argv[0]);
  return child;
}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    kill();
    pid_ = std::exchange(o.pid_, -1);
    status_ = o.status_;
    group_ = o.group_;
  }
  return *this;
}

void Child::signal(int sig) const noexcept {
  if (pid_ > 0) ::kill(pid_, sig);
}

int Child::wait(struct rusage* usage) {
  if (pid_ <= 0) return status_;
  if (group_) {
    // Until the leader is reaped its zombie holds the group's number: stop the rest of the group
    // first, so the signal can reach nothing else.
    siginfo_t info {};
    int r = 0;
    while ((r = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT)) < 0 && errno == EINTR) {
    }
    if (r == 0) ::kill(-pid_, SIGKILL);  // else wait4 below reports why (and the group is not surely its own)
  }
  struct rusage ignored {};
  while (::wait4(pid_, &status_, 0, usage != nullptr ? usage : &ignored) < 0) {
    if (errno == EINTR) continue;
    const int err = errno;
    const pid_t pid = std::exchange(pid_, -1);  // not ours to wait for, nor to kill, any more
    status_ = kUnknownStatus;
    throw_io_error(err, "wait4", "pid " + std::to_string(pid));
  }
  reap_group();
  pid_ = -1;
  return status_;
}

void Child::reap_group() noexcept {
  if (!group_ || pid_ <= 0) return;
  // The members that are ours (as subreaper: all that outlived their parent), killed already.
  while (::waitpid(-pid_, nullptr, 0) > 0 || errno == EINTR) {
  }
}

bool Child::exited(struct rusage* usage) {
  if (pid_ <= 0) return true;
  siginfo_t info {};
  info.si_pid = 0;
  const int r = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
  if (r == 0 && info.si_pid == 0) return false;  // still running
  if (r < 0 && errno == EINTR) return false;
  if (r < 0) {
    status_ = kUnknownStatus;  // not ours to wait for any more
    pid_ = -1;
    return true;
  }
  (void)wait(usage);  // it has exited: reaps it (and its group) without blocking on it
  return true;
}

void Child::kill() noexcept {
  if (pid_ <= 0) return;
  ::kill(group_ ? -pid_ : pid_, SIGKILL);
  while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
  }
  reap_group();
  pid_ = -1;
}

double cpu_seconds(const struct rusage& ru) noexcept {
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int exit_code(int status) noexcept {
  if (status == Child::kUnknownStatus) return 1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string describe_status(int status) {
  if (status == Child::kUnknownStatus) return "ended, but could not be waited for";
  if (WIFSIGNALED(status)) {
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  }
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "ended (status " + std::to_string(status) + ")";
}

int move_descriptor_above(int fd, int min) {
  if (fd >= min) return fd;
  const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, min);
  const int err = errno;
  ::close(fd);
  if (high < 0) throw_io_error(err, "fcntl F_DUPFD_CLOEXEC", "");
  return high;
}

Finished run_program(const std::vector<std::string>& argv) {
  if (argv.empty()) throw ConfigError("run_program: no program");
  throw_if_interrupted();
  // Pipe ends above the standard three, so that dup2 onto 1 and 2 in the child never meets
  // itself (possible when the caller started with its standard descriptors closed).
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw_io_error(errno, "pipe2", argv[0]);
  FileDescriptor out_r(move_descriptor_above(out[0], 3)), out_w(move_descriptor_above(out[1], 3));
  if (::pipe2(err, O_CLOEXEC) != 0) throw_io_error(errno, "pipe2", argv[0]);
  FileDescriptor err_r(move_descriptor_above(err[0], 3)), err_w(move_descriptor_above(err[1], 3));
  Child::Options options;
  options.stdin_null = true;
  options.dup2 = {{out_w.get(), 1}, {err_w.get(), 2}};
  options.search_path = true;
  options.default_signals = true;
  options.own_group = true;  // fio's job processes are stopped with it
  const auto t0 = std::chrono::steady_clock::now();
  Child child = Child::spawn(argv, options);  // killed and reaped if anything below fails
  out_w.close();
  err_w.close();

  Finished f;
  pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
  std::string* sinks[2] = {&f.out, &f.err};
  int open = 2;
  char buf[65536];
  while (open > 0) {
    // A bounded wait: an interrupt that came outside poll is seen within 200 ms too.
    throw_if_interrupted();  // the child is killed and reaped on the way out
    const int ready = ::poll(fds, 2, 200);
    if (ready < 0 && errno != EINTR) throw_io_error(errno, "poll", argv[0]);
    if (ready <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open;
      }
    }
  }
  // The pipes closed; a program that closed them early may still run: wait, seeing interrupts.
  struct rusage ru {};
  while (!child.exited(&ru)) {
    throw_if_interrupted();  // the child (its group) is killed and reaped on the way out
    ::poll(nullptr, 0, 20);
  }
  const int status = child.wait();  // its saved status
  f.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  f.status = exit_code(status);
  f.ended = describe_status(status);
  f.cpu_seconds = cpu_seconds(ru);
  return f;
}

}  // namespace swapio::cli
