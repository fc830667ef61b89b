// GPUDirect Storage: the body of an op on device memory moved by cuFile between the file and
// the GPU, with no host bounce, where the library loads, its driver opens, the file is open with
// O_DIRECT and registers. Everything else (the unaligned edges, and every op where GDS cannot
// run and gds=auto) goes through the staging ring as before.
//
// Registrations: an op's file is registered once (cuFileHandleRegister) and shared by its
// slices; device memory swapio allocated is registered whole on its first GDS op and stays
// registered until it is freed (as the pinned staging rings stay registered); memory a caller
// registered (gds_register) is used as registered; other memory goes unregistered, through
// cuFile's own GPU bounce buffers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "swapio/config.hpp"
#include "swapio/detail/cufile.hpp"
#include "swapio/detail/slice_stats.hpp"
#include "swapio/device.hpp"
#include "swapio/file.hpp"
#include "swapio/tensor.hpp"

namespace swapio::detail {

// A file registered with cuFile for one op; deregistered when the last slice lets go.
class GdsFile {
 public:
  GdsFile(const CuFileLibrary& library, cufile::Handle handle) noexcept : library_(library), handle_(handle) {}
  ~GdsFile() { library_.handle_deregister(handle_); }
  GdsFile(const GdsFile&) = delete;
  GdsFile& operator=(const GdsFile&) = delete;

  const CuFileLibrary& library() const noexcept { return library_; }
  cufile::Handle handle() const noexcept { return handle_; }

 private:
  const CuFileLibrary& library_;
  cufile::Handle handle_;
};

// How an op on `device`'s memory moves its body: through cuFile (file set; note says "cuFile
// compat mode: ..." when nvidia-fs is not loaded), or not (file null, note says why: "gds=off",
// "libcufile.so.0 not found", "the filesystem refuses O_DIRECT", "nvidia-fs not loaded, cuFile
// compat mode", ...). gds=on throws ConfigError with that reason where auto would fall back.
struct GdsChoice {
  std::shared_ptr<GdsFile> file;
  std::string note;
};
GdsChoice choose_gds(const Config& config, const File& file, Device& device);

// Moves the body [offset, offset+length) between the file and device memory at `memory` with
// cuFile, after the caller's stream work `after` (when given) is done: one call, as DeepSpeed's
// GDS op makes one per thread (cuFile splits it into DMA requests of its own), resumed while it
// moves fewer bytes than asked. Throws swapio::Error naming the call, path, offset, length and
// cuFile's error.
void gds_move(const GdsFile& gds, Direction direction, Device& device, std::byte* memory, std::uint64_t offset,
              std::uint64_t length, const std::string& path, const Fence* after, SliceStats& stats);

// Device::allocate and Device::deallocate: swapio's own allocations, registered with cuFile on
// their first GDS op, deregistered before they are freed.
void gds_note_allocation(const void* base, std::size_t bytes) noexcept;
void gds_forget_allocation(const void* base) noexcept;

}  // namespace swapio::detail
