// swapio: move large tensors between memory and NVMe files as fast as the device allows.
#pragma once

#include "swapio/basic.hpp"
#include "swapio/buffer.hpp"
#include "swapio/config.hpp"
#include "swapio/device.hpp"
#include "swapio/error.hpp"
#include "swapio/file.hpp"
#include "swapio/gds.hpp"
#include "swapio/handle.hpp"
#include "swapio/knobs.hpp"
#include "swapio/layout.hpp"
#include "swapio/result.hpp"
#include "swapio/tensor.hpp"
#include "swapio/validate.hpp"
