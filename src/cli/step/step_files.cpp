// The schedules' file placement.
#include "step/step_files.hpp"

#include <unistd.h>

#include <cerrno>
#include <set>

#include "swapio/error.hpp"

namespace swapio::cli {

std::size_t step_file_folder(const StepModel& model, std::size_t folders, unsigned rank, Schedule s, const SubGroup& g,
                             unsigned t) noexcept {
  return s == Schedule::swapio ? (g.index * (model.tensors() + 1) + t + rank) % folders : rank % folders;
}

std::string step_file_path(const StepModel& model, const std::vector<std::string>& folders, unsigned rank,
                           Schedule s, const SubGroup& g, unsigned t) {
  const std::size_t f = step_file_folder(model, folders.size(), rank, s, g, t);
  const std::string name = t == model.tensors() ? model.gradient_file(g) : model.tensor_file(g, t);
  return StepModel::rank_folder(folders[f], rank) + "/" + name;
}

std::vector<std::string> tensor_files(const StepModel& model, const std::vector<std::string>& folders, unsigned rank) {
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (Schedule s : {Schedule::partitioned, Schedule::swapio}) {  // pipelined places as partitioned does
    for (const SubGroup& g : model.groups()) {
      for (unsigned t = 0; t <= model.tensors(); ++t) {
        std::string p = step_file_path(model, folders, rank, s, g, t);
        if (seen.insert(p).second) out.push_back(std::move(p));
      }
    }
  }
  return out;
}

std::vector<std::string> ceiling_files(const std::vector<std::string>& folders, unsigned rank) {
  std::vector<std::string> out;
  for (const std::string& folder : folders) {
    for (const char* name : {kCeilingFile, kCeilingFile2}) out.push_back(StepModel::rank_folder(folder, rank) + "/" + name);
  }
  return out;
}

std::vector<std::string> rank_files(const StepModel& model, const std::vector<std::string>& folders, unsigned rank) {
  std::vector<std::string> out = tensor_files(model, folders, rank);
  for (std::string& p : ceiling_files(folders, rank)) out.push_back(std::move(p));
  return out;
}

std::size_t unlink_files(const std::vector<std::string>& paths) {
  std::size_t removed = 0;
  for (const std::string& p : paths) {
    if (::unlink(p.c_str()) == 0) {
      ++removed;
    } else if (errno != ENOENT) {
      throw_io_error(errno, "unlink", p);
    }
  }
  return removed;
}

}  // namespace swapio::cli
