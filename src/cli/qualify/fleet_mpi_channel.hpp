// MPI as fleet qualification uses it (fleet_mpi.cpp; built only with MPI): started and ended
// with the command, and messages between the ranks that each wait so long only, so that a rank
// that never comes leaves the others able to say so instead of hanging.
#pragma once

#include <mpi.h>

#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace swapio::cli {

// MPI started (unless the program did) and finalized with this object. Throws ConfigError
// where MPI cannot start.
class Mpi {
 public:
  Mpi();
  ~Mpi();
  Mpi(const Mpi&) = delete;
  Mpi& operator=(const Mpi&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  int rank_ = 0, size_ = 1;
};

// Non-blocking collectives and sends on MPI_COMM_WORLD, each waited for up to `limit` seconds.
// What fails to complete within it returns nullopt or false: what then happens is the caller's.
class MpiChannel {
 public:
  // poll: called again and again while a wait lasts (rank 0 takes in the results on the way).
  MpiChannel(const Mpi& mpi, double limit, std::function<void()> poll)
      : mpi_(mpi), limit_(limit), poll_(std::move(poll)) {}

  // Waits for a non-blocking operation, up to the limit; an interrupt ends the wait too.
  bool finish(MPI_Request& request);

  // Every rank's string to every rank (to_all) or to rank 0 only (the others get none).
  std::optional<std::vector<std::string>> collect(const std::string& mine, bool to_all);
  // Rank 0's value to every rank.
  std::optional<int> broadcast(int value);

  // A message to rank 0 that is not waited for here (drain_sends waits for them all).
  void send_to_first(std::string text, int tag);
  bool drain_sends();
  // Rank 0: every message that has arrived, of any tag, each handed to take (its source, its text).
  void receive(const std::function<void(int, std::string)>& take);

 private:
  const Mpi& mpi_;
  double limit_;
  std::function<void()> poll_;
  std::deque<std::string> sends_;  // what this rank's pending sends read
  std::vector<MPI_Request> send_requests_;
};

}  // namespace swapio::cli
