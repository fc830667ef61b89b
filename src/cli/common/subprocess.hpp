// Child processes: started with posix_spawn, and on every path out stopped and waited for (a
// Child that is dropped before it was waited for is killed and reaped). run_program runs a
// program and collects what it printed: for the measurements that drive `swapio bench` and fio
// as separate processes, as a user would.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace swapio::cli {

// A subcommand that starts processes (workers, fio) owns them: SIGINT, SIGTERM and SIGHUP
// interrupt it (blocking calls return EINTR, the work throws Interrupted, the processes are
// stopped and waited for, files removed) instead of ending it on the spot; SIGPIPE is ignored
// (a dead child's pipe is reported) and SIGCHLD is the default (an inherited SIG_IGN would
// make waiting useless). A signal the process was started with ignored (a script's background
// job, nohup) stays ignored, here and in every child. The process also becomes its
// descendants' subreaper: what a child leaves running (fio's job processes) is reparented here,
// so it too can be stopped and waited for.
struct Interrupted : std::runtime_error {
  using std::runtime_error::runtime_error;
};
void catch_interrupts();
// The signal that interrupted the command, 0 while none did.
int interrupt_signal() noexcept;
// Throws Interrupted ("interrupted by Terminated") once a signal came.
void throw_if_interrupted();
// Kills and reaps every child this process still has. Once no Child is left, those can only be
// orphans a program left behind, reparented here (the subreaper). Never throws.
void stop_orphans() noexcept;

class Child {
 public:
  // The status of a child that could not be waited for (ECHILD): neither an exit nor a signal.
  static constexpr int kUnknownStatus = -1;

  struct Options {
    std::vector<std::pair<int, int>> dup2;  // (descriptor here, descriptor in the child)
    bool stdin_null = false;                // the child's standard input is /dev/null
    int close_from = -1;                    // the child closes every descriptor >= this (-1: none)
    bool default_signals = false;           // SIGPIPE, SIGCHLD and the interrupts default (not those
                                            // started ignored), nothing blocked
    bool search_path = false;               // argv[0] is looked up in PATH
    std::string exe;                        // the file to run instead of argv[0] ("": argv[0])
    bool own_group = false;                 // the child leads a process group of its own: kill()
                                            // stops and reaps everything in it (a program's own
                                            // children too), and so does wait() for what outlives it
  };

  Child() noexcept = default;
  // Throws swapio::Error naming the program when it cannot be started (not found: ENOENT).
  static Child spawn(const std::vector<std::string>& argv, const Options& options);
  Child(Child&& o) noexcept : pid_(std::exchange(o.pid_, -1)), status_(o.status_), group_(o.group_) {}
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { kill(); }

  pid_t pid() const noexcept { return pid_; }
  bool running() const noexcept { return pid_ > 0; }
  // Sends sig unless the child was already waited for.
  void signal(int sig) const noexcept;
  // Waits for the child (again: its saved status) and returns its wait status; with usage, its
  // resource usage; a child of its own group: then stops and reaps what it left running. Throws
  // swapio::Error when waiting fails.
  int wait(struct rusage* usage = nullptr);
  // Whether the child has exited (then reaped: its status is wait()'s, its resource usage in
  // *usage), without blocking.
  bool exited(struct rusage* usage = nullptr);
  // SIGKILL and wait (a child of its own group: all of it). Never throws.
  void kill() noexcept;

 private:
  // After the leader was reaped (its group killed before): reaps the members that are ours (as
  // subreaper, all of them).
  void reap_group() noexcept;

  pid_t pid_ = -1;  // -1 once waited for
  int status_ = 0;
  bool group_ = false;
};

// User + system seconds of a resource usage.
double cpu_seconds(const struct rusage& ru) noexcept;
// A wait status as a shell gives it: the exit status, or 128 + the signal (1 when unknown).
int exit_code(int status) noexcept;
// "exited with status 3", "was killed by signal 9 (Killed)".
std::string describe_status(int status);
// fd moved to a descriptor >= min (close-on-exec), fd itself closed. Throws swapio::Error.
int move_descriptor_above(int fd, int min);

struct Finished {
  int status = -1;   // exit status, or 128 + signal
  std::string ended;  // describe_status's words: "exited with status 1", "was killed by signal 9 (Killed)"
  std::string out;
  std::string err;
  double cpu_seconds = 0;  // user + system of the process and its waited-for children
  double wall_seconds = 0;
};

// Throws swapio::Error when the program cannot be started (not found: errno ENOENT), and
// Interrupted (the program killed and reaped) when an interrupt came while it ran.
Finished run_program(const std::vector<std::string>& argv);

}  // namespace swapio::cli
