# Every dependency is a Debian package (ci/install-deps installs them); nothing is downloaded.
find_package(Threads REQUIRED)

find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(LIBURING QUIET IMPORTED_TARGET liburing>=2.1)
endif()
if(NOT TARGET PkgConfig::LIBURING)
  message(FATAL_ERROR "liburing (>= 2.1) not found through pkg-config: run ci/install-deps (Debian package liburing-dev)")
endif()

# libaio (Linux native AIO, the aio engine): no pkg-config file in Debian's package.
find_path(LIBAIO_INCLUDE_DIR libaio.h)
find_library(LIBAIO_LIBRARY aio)
if(NOT LIBAIO_INCLUDE_DIR OR NOT LIBAIO_LIBRARY)
  message(FATAL_ERROR "libaio not found: run ci/install-deps (Debian package libaio-dev)")
endif()
add_library(Libaio::Libaio UNKNOWN IMPORTED)
set_target_properties(Libaio::Libaio PROPERTIES IMPORTED_LOCATION "${LIBAIO_LIBRARY}"
                      INTERFACE_INCLUDE_DIRECTORIES "${LIBAIO_INCLUDE_DIR}")

find_package(CLI11 CONFIG QUIET)
find_package(nlohmann_json 3.10 CONFIG QUIET)

# CUDA: optional, detected. AUTO uses it when the toolkit is present.
set(SWAPIO_HAVE_CUDA OFF)
if(NOT SWAPIO_CUDA STREQUAL "OFF")
  if(NOT DEFINED CUDAToolkit_ROOT AND EXISTS /usr/local/cuda)
    set(CUDAToolkit_ROOT /usr/local/cuda)
  endif()
  find_package(CUDAToolkit QUIET)
  if(CUDAToolkit_FOUND)
    set(SWAPIO_HAVE_CUDA ON)
    message(STATUS "swapio: CUDA Toolkit ${CUDAToolkit_VERSION} (nvcc in ${CUDAToolkit_BIN_DIR}): device support on")
  elseif(SWAPIO_CUDA STREQUAL "ON")
    message(FATAL_ERROR "SWAPIO_CUDA=ON but no CUDA Toolkit was found (set CUDAToolkit_ROOT)")
  else()
    message(STATUS "swapio: no CUDA Toolkit found: device support off")
  endif()
endif()
