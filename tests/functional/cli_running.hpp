// A command watched while it runs, for the CLI's tests: its processes found through /proc, a
// condition polled, a bench acted on mid-run (its workers killed, stopped, or it interrupted).
#pragma once

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli_fixture.hpp"

namespace swapio::test {

// Waits until `ready` holds (polled every 20 ms, at most `limit`).
inline bool wait_until(const std::function<bool()>& ready, std::chrono::seconds limit = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!ready()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// The processes whose parent is `parent`.
inline std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> kids;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = slurp(e.path().string() + "/stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) kids.push_back(std::stoi(name));
  }
  return kids;
}

// Whether `folder` holds an entry whose name starts with `prefix`.
inline bool has_entry_starting(const std::string& folder, const std::string& prefix) {
  std::error_code ec;
  for (std::filesystem::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().starts_with(prefix)) return true;
  }
  return false;
}

// Starts a bench with `args`, waits for its workers, hands them to `act`, and returns the outcome.
inline Outcome run_and_act(const TempDir& dir, const std::vector<std::string>& args, unsigned workers,
                           const std::function<void(pid_t bench, const std::vector<pid_t>&)>& act) {
  const std::string out = dir.file(".out"), err = dir.file(".err");
  const Leftovers leftovers(dir.path(), args);
  const pid_t bench = spawn_cli(args, out, err, dir.path());
  std::vector<pid_t> kids;
  for (int i = 0; i < 500 && kids.size() < workers; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    kids = children_of(bench);
  }
  EXPECT_EQ(kids.size(), workers) << "the workers did not start";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  act(bench, kids);
  Outcome o;
  o.status = wait_exit(bench, std::chrono::seconds(60));
  o.out = slurp(out);
  o.err = slurp(err);
  leftovers.check(bench, o.status, o.err);
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  for (pid_t k : kids) EXPECT_NE(::kill(k, 0), 0) << "worker " << k << " outlived the run";
  return o;
}

}  // namespace swapio::test
