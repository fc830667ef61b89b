// The command as a user runs it, for the CLI's tests: the real binary (SWAPIO_CLI_PATH) in a
// folder of the test's own, its exit status and output, and after every run the check that it
// left nothing behind.
#pragma once

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

extern char** environ;

namespace swapio::test {

struct Outcome {
  int status = -1;  // exit status, or 128 + signal
  std::string out, err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline pid_t spawn_cli(const std::vector<std::string>& args, const std::string& out, const std::string& err,
                const std::string& cwd, const std::vector<std::string>& prefix = {}) {
  std::vector<std::string> all = prefix;
  all.push_back(SWAPIO_CLI_PATH);
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  // Its own session (numbered by its pid): whatever it starts, and what they start, can be found
  // afterwards (process groups of their own included).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::runtime_error(std::string("posix_spawn: ") + std::strerror(rc));
  return pid;
}

// Waits for pid at most `limit`; kills it and fails the test past that (a hang is a failure).
inline int wait_exit(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ADD_FAILURE() << "swapio did not finish within " << limit.count() << " s";
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The processes of a session, zombies too (a zombie left is a process nobody waited for).
inline std::vector<pid_t> session_members(pid_t session) {
  std::vector<pid_t> members;
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = slurp(it->path().string() + "/stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state = 0;
    pid_t ppid = 0, pgrp = 0, sid = 0;
    rest >> state >> ppid >> pgrp >> sid;
    if (sid == session) members.push_back(std::stoi(name));
  }
  return members;
}

// "Nothing lost", checked after every command a test runs: no process the command started is
// alive or left unwaited for, no temporary of swapio's is left (a replacement's, qualify's folder, tune's file, the
// floors' files), and every file that existed before holds its bytes, except the files the
// command writes (NAME.i of --write-file, through a link its target; reports): those may change
// when it succeeded, or when a failed run in place names them as partial.
class Leftovers {
 public:
  Leftovers(std::string root, const std::vector<std::string>& args) : root_(std::move(root)) {
    std::string write_name;
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == "--write-file") write_name = std::filesystem::path(args[i + 1]).filename().string() + ".";
      if (args[i] == "--json" || args[i] == "--junit") reports_.push_back(std::filesystem::path(args[i + 1]).filename());
      if (args[i] == "--prefix") {
        reports_.push_back(std::filesystem::path(args[i + 1]).filename().string() + ".");
        reports_.push_back(std::filesystem::path(args[i + 1]).filename().string() + "-");
      }
      if (args[i] == "--atomic-replace" || args[i + 1] == "--atomic-replace") replacing_ = true;
    }
    for (const auto& [path, entry] : scan()) {
      before_[path] = entry;
      const std::string name = std::filesystem::path(path).filename();
      if (!write_name.empty() && name.starts_with(write_name) &&
          name.find_first_not_of("0123456789", write_name.size()) == std::string::npos) {
        targets_.insert(path);
        std::error_code ec;
        if (entry.link) targets_.insert(std::filesystem::weakly_canonical(path, ec).string());
      }
    }
  }

  void check(pid_t session, int status, const std::string& err) const {
    const std::vector<pid_t> alive = session_members(session);
    EXPECT_TRUE(alive.empty()) << alive.size() << " process(es) the command started outlived it or were not waited for, e.g. "
                               << alive[0] << ": " << slurp("/proc/" + std::to_string(alive[0]) + "/stat");
    for (const pid_t p : alive) ::kill(p, SIGKILL);
    const std::map<std::string, Entry> after = scan();
    for (const auto& [path, entry] : after) {
      const std::string name = std::filesystem::path(path).filename();
      const bool temporary = (name.starts_with(".") && name.find(".swapio-") != std::string::npos) ||
                             name.starts_with("swapio-qualify-") || name.starts_with("swapio-tune.") ||
                             name.starts_with("swapio-floor.") || name.starts_with("swapio-ref.");
      EXPECT_FALSE(temporary) << "the command left " << path;
    }
    const bool named_partial = err.find("being overwritten in place") != std::string::npos;
    for (const auto& [path, entry] : before_) {
      const auto it = after.find(path);
      if (it == after.end()) {
        ADD_FAILURE() << path << " existed before the command and is gone";
        continue;
      }
      if (it->second == entry) continue;
      const std::string name = std::filesystem::path(path).filename();
      const bool report = std::any_of(reports_.begin(), reports_.end(), [&](const std::string& r) {
        return r.ends_with(".") || r.ends_with("-") ? name.starts_with(r) : name == r;
      });
      const bool may_change = targets_.contains(path) && !entry.link && (status == 0 || (named_partial && !replacing_));
      EXPECT_TRUE(report || may_change) << path << " existed before the command and " << (entry.link ? "its link " : "")
                                        << "changed (exit status " << status << ")";
    }
  }

 private:
  struct Entry {
    bool link = false;
    std::string what;  // a link's target; a file's size and hash
    bool operator==(const Entry&) const = default;
  };
  std::map<std::string, Entry> scan() const {
    std::map<std::string, Entry> entries;
    std::error_code ec;
    for (std::filesystem::recursive_directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string path = it->path().string();
      const std::string name = it->path().filename();
      if (name == ".out" || name == ".err") continue;
      Entry e;
      e.link = it->is_symlink(ec);
      if (e.link) {
        e.what = std::filesystem::read_symlink(it->path(), ec).string();
      } else if (it->is_regular_file(ec)) {
        const std::string bytes = slurp(path);
        e.what = std::to_string(bytes.size()) + ":" + std::to_string(std::hash<std::string>{}(bytes));
      } else {
        continue;
      }
      entries[path] = e;
    }
    return entries;
  }
  std::string root_;
  std::map<std::string, Entry> before_;
  std::set<std::string> targets_;
  std::vector<std::string> reports_;
  bool replacing_ = false;
};

struct BadCase {
  std::vector<std::string> args;
  std::string message;
};

class Cli : public ::testing::Test {
 protected:
  // Each row: one clear line on stderr naming the problem, exit status 2, nothing on stdout.
  void expect_refused(const std::vector<BadCase>& cases) {
    for (const BadCase& c : cases) {
      std::string shown;
      for (const auto& a : c.args) shown += a + " ";
      const Outcome o = run(c.args);
      EXPECT_EQ(o.status, 2) << shown << "\n" << o.err;
      EXPECT_NE(o.err.find(c.message), std::string::npos) << shown << "\nstderr: " << o.err;
      EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << shown << "\nstderr: " << o.err;
      EXPECT_EQ(o.out, "") << shown;
    }
  }
  Outcome run(const std::vector<std::string>& args, std::chrono::seconds limit = std::chrono::seconds(120)) {
    return run_prefixed({}, args, limit);
  }
  // The same through another program first (e.g. setpriv to change the user).
  Outcome run_prefixed(const std::vector<std::string>& prefix, const std::vector<std::string>& args,
                       std::chrono::seconds limit = std::chrono::seconds(120)) {
    const std::string out = dir_.file(".out"), err = dir_.file(".err");
    const Leftovers leftovers(dir_.path(), args);
    Outcome o;
    const pid_t pid = spawn_cli(args, out, err, dir_.path(), prefix);
    o.status = wait_exit(pid, limit);
    o.out = slurp(out);
    o.err = slurp(err);
    leftovers.check(pid, o.status, o.err);
    std::filesystem::remove(out);
    std::filesystem::remove(err);
    return o;
  }
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path())) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }
  TempDir dir_;
};

}  // namespace swapio::test
