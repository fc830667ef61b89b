#include "subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "swapio/error.hpp"
#include "swapio/file.hpp"

extern char** environ;

namespace swapio::cli {

namespace {

// A descriptor above the standard three, so that dup2 onto 1 and 2 in the child never meets
// itself (possible when the caller started with its standard descriptors closed).
int above_standard(int fd) {
  if (fd > 2) return fd;
  const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  const int err = errno;
  ::close(fd);
  if (high < 0) throw_io_error(err, "fcntl F_DUPFD_CLOEXEC", "");
  return high;
}

// Kills and reaps a started child unless released: no child outlives a failed measurement.
struct ChildGuard {
  pid_t pid = -1;
  ~ChildGuard() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
};

}  // namespace

Finished run_program(const std::vector<std::string>& argv) {
  if (argv.empty()) throw ConfigError("run_program: no program");
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw_io_error(errno, "pipe2", argv[0]);
  FileDescriptor out_r(above_standard(out[0])), out_w(above_standard(out[1]));
  if (::pipe2(err, O_CLOEXEC) != 0) throw_io_error(errno, "pipe2", argv[0]);
  FileDescriptor err_r(above_standard(err[0])), err_w(above_standard(err[1]));
  posix_spawn_file_actions_t fa;
  if (int rc = posix_spawn_file_actions_init(&fa); rc != 0) throw_io_error(rc, "posix_spawn_file_actions_init", argv[0]);
  int rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&fa, err_w.get(), 2);
  if (rc != 0) {
    posix_spawn_file_actions_destroy(&fa);
    throw_io_error(rc, "posix_spawn_file_actions", argv[0]);
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = -1;
  rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw_io_error(rc, "start", argv[0]);
  ChildGuard guard{pid};
  out_w.close();
  err_w.close();

  Finished f;
  pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
  std::string* sinks[2] = {&f.out, &f.err};
  int open = 2;
  char buf[65536];
  while (open > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      throw_io_error(errno, "poll", argv[0]);
    }
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
  int status = 0;
  struct rusage ru {};
  while (::wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) throw_io_error(errno, "wait4", argv[0]);
  }
  guard.pid = -1;  // reaped
  f.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  f.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  f.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                  static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  return f;
}

}  // namespace swapio::cli
