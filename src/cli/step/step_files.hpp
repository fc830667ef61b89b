// Where each schedule keeps a rank's files, and their removal. DeepSpeed's schedules keep a rank's
// files in one folder (its nvme_path: folder rank mod n); swapio's spreads every sub-group's
// tensors over every folder.
#pragma once

#include <string>
#include <vector>

#include "step/step_model.hpp"

namespace swapio::cli {

// The scratch file of the ceiling measurement, in each folder's rank folder.
inline constexpr const char* kCeilingFile = "swapio-ceiling.swp";
inline constexpr const char* kCeilingFile2 = "swapio-ceiling-2.swp";

// The folder (index into folders) of sub-group g's tensor t.
std::size_t step_file_folder(const StepModel& model, std::size_t folders, unsigned rank, Schedule s, const SubGroup& g,
                             unsigned t) noexcept;
// Sub-group g's tensor t (0: parameters, 1..states: the states, tensors(): the gradient).
std::string step_file_path(const StepModel& model, const std::vector<std::string>& folders, unsigned rank,
                           Schedule s, const SubGroup& g, unsigned t);
// Every tensor and gradient file any schedule of this rank may create, each once.
std::vector<std::string> tensor_files(const StepModel& model, const std::vector<std::string>& folders, unsigned rank);
// The ceiling's two scratch files of the rank in each folder (folder by folder, first then second).
std::vector<std::string> ceiling_files(const std::vector<std::string>& folders, unsigned rank);
// Both: every file the run may create for the rank.
std::vector<std::string> rank_files(const StepModel& model, const std::vector<std::string>& folders, unsigned rank);
// Unlinks each (ENOENT is fine); returns how many were there. Throws swapio::Error.
std::size_t unlink_files(const std::vector<std::string>& paths);

}  // namespace swapio::cli
