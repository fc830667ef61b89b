// cuFile's C API as far as swapio calls it: the types, status codes and entry points of
// NVIDIA's libcufile (GPUDirect Storage), declared here so that swapio builds where the CUDA
// Toolkit ships no cufile.h and links nothing of it: the library is loaded at run time
// (cufile.hpp). The layouts are cuFile's stable ABI; where cufile.h is present they are
// checked against it at compile time.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace swapio::detail::cufile {

// CUfileOpError: 0 is success; errors are 5000 and up (cuFileRead/cuFileWrite return them
// negated).
inline constexpr int kSuccess = 0;
inline constexpr int kDriverNotInitialized = 5001;
inline constexpr int kIoNotSupported = 5008;
inline constexpr int kCudaPointerInvalid = 5012;
inline constexpr int kInvalidFileType = 5018;
inline constexpr int kInvalidFileOpenFlag = 5019;
inline constexpr int kDioNotSet = 5020;
inline constexpr int kInvalidValue = 5022;
inline constexpr int kMemoryAlreadyRegistered = 5023;
inline constexpr int kMemoryNotRegistered = 5024;
inline constexpr int kDriverAlreadyOpen = 5026;
inline constexpr int kHandleNotRegistered = 5027;
inline constexpr int kHandleAlreadyRegistered = 5028;
inline constexpr int kGetNewFdFailed = 5031;

// CUfileError_t: cuFile's status and, for kCudaDriverError (5011), the CUDA driver's CUresult.
struct Error {
  int err;
  int cu_err;
};

inline constexpr int kHandleTypeOpaqueFd = 1;  // CU_FILE_HANDLE_TYPE_OPAQUE_FD

// CUfileDescr_t.
struct Descr {
  int type;
  union {
    int fd;
    void* handle;
  } handle;
  const void* fs_ops;
};

using Handle = void*;  // CUfileHandle_t

// The entry points, by their exported names.
using DriverOpenFn = Error (*)();                      // cuFileDriverOpen
using DriverCloseFn = Error (*)();                     // cuFileDriverClose_v2, else cuFileDriverClose
using HandleRegisterFn = Error (*)(Handle*, Descr*);   // cuFileHandleRegister
using HandleDeregisterFn = void (*)(Handle);           // cuFileHandleDeregister
using BufRegisterFn = Error (*)(const void*, std::size_t, int);  // cuFileBufRegister
using BufDeregisterFn = Error (*)(const void*);                   // cuFileBufDeregister
// cuFileRead/cuFileWrite: bytes moved (possibly fewer than asked), -1 with errno for a system
// error, or a cuFile error negated.
using ReadFn = ssize_t (*)(Handle, void*, std::size_t, off_t, off_t);
using WriteFn = ssize_t (*)(Handle, const void*, std::size_t, off_t, off_t);
using GetVersionFn = Error (*)(int*);  // cuFileGetVersion (libcufile 1.9 and later)

// swapio's own extra, exported by the tests' stand-in library only: swapio hands it the resolver
// of the host emulation's device memory (the host bytes behind [address, address+bytes), or null).
using StandinResolver = void* (*)(const void* address, std::size_t bytes);
using StandinAttachFn = void (*)(StandinResolver);  // swapio_cufile_standin_attach

// The name, meaning of a status ("CU_FILE_DIO_NOT_SET (5020): the descriptor is not open with
// O_DIRECT").
const char* error_name(int err) noexcept;
const char* error_meaning(int err) noexcept;

}  // namespace swapio::detail::cufile

// (Not in the tests' stand-in, which defines cuFile's entry points with these types.)
#if __has_include(<cufile.h>) && !defined(SWAPIO_CUFILE_STANDIN_BUILD)
#include <cufile.h>
static_assert(sizeof(CUfileError_t) == sizeof(swapio::detail::cufile::Error));
static_assert(sizeof(CUfileDescr_t) == sizeof(swapio::detail::cufile::Descr));
static_assert(CU_FILE_HANDLE_TYPE_OPAQUE_FD == swapio::detail::cufile::kHandleTypeOpaqueFd);
static_assert(CU_FILE_DRIVER_NOT_INITIALIZED == swapio::detail::cufile::kDriverNotInitialized);
static_assert(CU_FILE_DIO_NOT_SET == swapio::detail::cufile::kDioNotSet);
static_assert(CU_FILE_MEMORY_ALREADY_REGISTERED == swapio::detail::cufile::kMemoryAlreadyRegistered);
static_assert(CU_FILE_HANDLE_NOT_REGISTERED == swapio::detail::cufile::kHandleNotRegistered);
#endif
