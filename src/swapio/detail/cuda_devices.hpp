// The CUDA devices' objects: one per ordinal for the life of the process, so that every open of
// a CUDA device shares its staging cache.
#pragma once

#include <memory>

#include "swapio/device.hpp"

namespace swapio::detail {

// CUDA device `index`. Throws ConfigError where no CUDA device is visible or `index` is not one.
std::shared_ptr<Device> cuda_device(int index);

}  // namespace swapio::detail
