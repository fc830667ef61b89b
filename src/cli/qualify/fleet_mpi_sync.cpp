// A fleet run's sync points, the results sent to rank 0, and the early end past a time limit.
#include "qualify/fleet_mpi_sync.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "common/report_text.hpp"
#include "common/subprocess.hpp"

namespace swapio::cli {

using Clock = std::chrono::steady_clock;

FleetSync::FleetSync(const Mpi& mpi, const QualifyOptions& o)
    : mpi_(mpi),
      o_(o),
      limit_(mpi.rank() == 0 ? o.fleet_timeout : o.fleet_timeout + std::max(10.0, 0.1 * o.fleet_timeout)),
      // Rank 0 takes in the results that arrive while it waits.
      channel_(mpi, limit_, [this] {
        if (mpi_.rank() == 0) receive_results();
      }) {}

std::vector<std::string> FleetSync::collect(const std::string& mine, const std::string& what, bool to_all) {
  std::optional<std::vector<std::string>> all = channel_.collect(mine, to_all);
  if (!all) timed_out(what);
  return std::move(*all);
}

int FleetSync::broadcast(int value, const std::string& what) {
  const std::optional<int> v = channel_.broadcast(value);
  if (!v) timed_out(what);
  return *v;
}

std::vector<nlohmann::json> FleetSync::point(const nlohmann::json& status, const std::string& what) {
  awaiting_ = points_ + 1;
  send_result(status.value("result", nlohmann::json()));
  nlohmann::json small = status;
  small.erase("result");
  std::vector<nlohmann::json> all;
  for (const std::string& text : collect(small.dump(), what, true)) all.push_back(nlohmann::json::parse(text));
  ++points_;
  if (mpi_.rank() == 0) {
    await_results(what);
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (all[i].value("code", 0) != 0) progress_.fail(static_cast<int>(i), all[i].value("error", ""));
    }
    write_partial();
  }
  awaiting_ = 0;
  return all;
}

void FleetSync::await_results(const std::string& what) {
  // Every rank sent this point's result before the collective: take in the ones still on the way.
  const auto end = Clock::now() + std::chrono::duration<double>(limit_);
  for (int i = 1; i < mpi_.size(); ++i) {
    while (progress_.arrived(i) < points_) {
      receive_results();
      if (progress_.arrived(i) >= points_) break;
      if (Clock::now() > end) timed_out("the results of " + what);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
}

void FleetSync::drain_sends() {
  if (!channel_.drain_sends()) timed_out("the delivery of the results");
}

void FleetSync::timed_out(const std::string& what) {
  const int sig = interrupt_signal();
  if (mpi_.rank() == 0) {
    const std::string limit = " within --fleet-timeout " + fmt("%g", o_.fleet_timeout) + " s";
    std::string late;
    for (int r : awaiting_ > 0 ? progress_.missing(awaiting_) : std::vector<int>{}) {
      late += (late.empty() ? "" : ", ") + progress_.who(r);
      progress_.fail(r, sig != 0 ? progress_.who(r) + " had not reached " + what + " when the job was interrupted"
                                 : progress_.who(r) + " did not reach " + what + limit);
    }
    const std::string why = sig != 0 ? std::string("interrupted by ") + strsignal(sig) +
                                           (late.empty() ? "" : " while waiting for " + late + " at " + what)
                                     : (late.empty() ? std::string("a rank") : late) + " did not reach " + what + limit;
    std::string text;
    write_partial(&text);
    std::fputs(text.c_str(), stdout);
    std::fprintf(stderr, "swapio qualify --fleet: %s; the reports have what was measured; ending the job\n", why.c_str());
  }
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, sig != 0 ? 128 + sig : 1);
  std::_Exit(1);
}

void FleetSync::send_result(const nlohmann::json& result) {
  if (mpi_.rank() == 0) {
    progress_.add_result(0, result);
    return;
  }
  channel_.send_to_first(result.dump(), kResultTag + static_cast<int>(points_));
}

void FleetSync::receive_results() {
  channel_.receive([this](int source, const std::string& text) {
    nlohmann::json result = nlohmann::json::parse(text, nullptr, false);
    progress_.add_result(source, result.is_discarded() ? nlohmann::json() : std::move(result));
  });
}

void FleetSync::write_partial(std::string* text) {
  std::string why;
  if (!progress_.write(o_.json, o_.junit, &why, text)) {
    std::fprintf(stderr, "swapio qualify --fleet: the report so far could not be written: %s\n", why.c_str());
  }
}

}  // namespace swapio::cli
