// A DeviceStream on a driver's stream (driver.hpp): what Device::create_stream hands out.
#pragma once

#include <memory>

#include "swapio/detail/driver.hpp"

namespace swapio::detail {

// A stream of device `ordinal` for one worker thread. Throws swapio::Error.
std::unique_ptr<DeviceStream> make_driver_stream(std::shared_ptr<Driver> driver, int ordinal);

}  // namespace swapio::detail
