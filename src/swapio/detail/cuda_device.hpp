// The CUDA implementation of the Device seam. In a build without the CUDA Toolkit these report
// that CUDA is not built in.
#pragma once

#include <memory>
#include <string>

#include "swapio/device.hpp"

namespace swapio::detail {

bool cuda_built() noexcept;
int cuda_device_count(std::string* why_none);
// Throws ConfigError when the build has no CUDA or device `index` is not visible.
std::shared_ptr<Device> open_cuda_device(int index);

}  // namespace swapio::detail
