// MPI's start and end, and the fleet's messages between ranks, each wait held to a limit.
#include "qualify/fleet_mpi_channel.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include "common/subprocess.hpp"
#include "swapio/error.hpp"

namespace swapio::cli {

using Clock = std::chrono::steady_clock;

Mpi::Mpi() {
  int ready = 0;
  MPI_Initialized(&ready);
  if (ready == 0 && MPI_Init(nullptr, nullptr) != MPI_SUCCESS) {
    throw ConfigError("--fleet: MPI could not start (run under an MPI launcher: mpirun, srun)");
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

Mpi::~Mpi() {
  int done = 0;
  MPI_Finalized(&done);
  if (done == 0) MPI_Finalize();
}

bool MpiChannel::finish(MPI_Request& request) {
  const auto end = Clock::now() + std::chrono::duration<double>(limit_);
  for (auto pause = std::chrono::microseconds(50);; pause = std::min(pause * 2, std::chrono::microseconds(20000))) {
    int done = 0;
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (poll_) poll_();
    if (done != 0) return true;
    if (Clock::now() > end || interrupt_signal() != 0) return false;
    std::this_thread::sleep_for(pause);
  }
}

std::optional<std::vector<std::string>> MpiChannel::collect(const std::string& mine, bool to_all) {
  const int n = mpi_.size();
  int len = static_cast<int>(mine.size());
  std::vector<int> lens(n);
  MPI_Request r;
  if (to_all) MPI_Iallgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, MPI_COMM_WORLD, &r);
  else MPI_Igather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD, &r);
  if (!finish(r)) return std::nullopt;
  const bool receives = to_all || mpi_.rank() == 0;
  std::vector<int> displs(n, 0);
  std::string all;
  if (receives) {
    for (int i = 1; i < n; ++i) displs[i] = displs[i - 1] + lens[i - 1];
    all.resize(static_cast<std::size_t>(displs[n - 1] + lens[n - 1]));
  }
  if (to_all) {
    MPI_Iallgatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, MPI_COMM_WORLD, &r);
  } else {
    MPI_Igatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, 0, MPI_COMM_WORLD, &r);
  }
  if (!finish(r)) return std::nullopt;
  std::vector<std::string> out;
  if (receives) {
    for (int i = 0; i < n; ++i) out.push_back(all.substr(static_cast<std::size_t>(displs[i]), static_cast<std::size_t>(lens[i])));
  }
  return out;
}

std::optional<int> MpiChannel::broadcast(int value) {
  MPI_Request r;
  MPI_Ibcast(&value, 1, MPI_INT, 0, MPI_COMM_WORLD, &r);
  if (!finish(r)) return std::nullopt;
  return value;
}

void MpiChannel::send_to_first(std::string text, int tag) {
  sends_.push_back(std::move(text));
  MPI_Request r;
  MPI_Isend(sends_.back().data(), static_cast<int>(sends_.back().size()), MPI_CHAR, 0, tag, MPI_COMM_WORLD, &r);
  send_requests_.push_back(r);
}

bool MpiChannel::drain_sends() {
  for (MPI_Request& r : send_requests_) {
    if (!finish(r)) return false;
  }
  send_requests_.clear();
  return true;
}

void MpiChannel::receive(const std::function<void(int, std::string)>& take) {
  for (;;) {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
    if (flag == 0) return;
    int count = 0;
    MPI_Get_count(&st, MPI_CHAR, &count);
    std::string text(static_cast<std::size_t>(count), '\0');
    MPI_Recv(text.data(), count, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    take(st.MPI_SOURCE, std::move(text));
  }
}

}  // namespace swapio::cli
