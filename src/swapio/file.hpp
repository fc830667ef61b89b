// Files: move-only owners that open with O_DIRECT where the filesystem allows it and say
// what they chose, with the direct-I/O alignment the filesystem asks for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "swapio/config.hpp"

namespace swapio {

// A move-only file descriptor. close() and the destructor never throw: they log.
class FileDescriptor {
 public:
  FileDescriptor() noexcept = default;
  explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
  FileDescriptor(FileDescriptor&& o) noexcept;
  FileDescriptor& operator=(FileDescriptor&& o) noexcept;
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { close(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  void close() noexcept;

 private:
  int fd_ = -1;
};

enum class Access { read, write };

// One file opened for one operation. The body of a transfer goes through fd() (O_DIRECT when
// direct()); the unaligned head and tail through edge_fd() (buffered), page-disjoint from the body.
class File {
 public:
  // Opens an existing regular file for reading, or creates/opens one for writing (never
  // truncated). Throws ConfigError for a path with a NUL byte, swapio::Error: missing file, a
  // directory, not a regular file, O_DIRECT refused with DirectMode::on. A file it created is
  // removed again when the open fails after creating it.
  // shown_as: the name errors and name() give (default: path), e.g. the file a temporary
  // will replace.
  // A descriptor path ("/proc/self/fd/N", "/dev/fd/N") opens the file descriptor N refers to,
  // as N allows it: a write through a read-only or O_APPEND descriptor, or a read through a
  // write-only one, is refused (EBADF); errors name the file and the descriptor.
  static File open(const std::string& path, Access access, DirectMode mode, const std::string& shown_as = {});

  File(File&&) noexcept = default;
  File& operator=(File&&) noexcept = default;

  int fd() const noexcept { return fd_.get(); }
  int edge_fd() const noexcept { return edge_fd_.valid() ? edge_fd_.get() : fd_.get(); }
  // The name errors and reports give: the caller's path (also while a temporary is written in
  // its place).
  const std::string& name() const noexcept { return name_; }
  // The path it was opened by (name() unless shown_as was given).
  const std::string& path() const noexcept { return path_; }
  Access access() const noexcept { return access_; }
  // A write's open created the file (it did not exist before).
  bool created() const noexcept { return created_; }
  // A write's file size when it was opened (0 when created).
  std::uint64_t size_before() const noexcept { return size_before_; }
  // The caller's descriptor N of a descriptor path, else -1.
  int descriptor() const noexcept { return descriptor_; }
  bool direct() const noexcept { return direct_; }
  // Why I/O is buffered when it is ("" when direct or when direct=off was asked).
  const std::string& direct_note() const noexcept { return direct_note_; }
  std::uint32_t mem_align() const noexcept { return mem_align_; }
  std::uint32_t offset_align() const noexcept { return offset_align_; }
  // The alignment of the body's edges: the offset alignment, at least a page, so the buffered
  // head and tail never share a page-cache page with a direct request.
  std::uint32_t edge_align() const noexcept;

  // Closes both descriptors (the destructor does too). Never throws.
  void close() noexcept {
    fd_.close();
    edge_fd_.close();
  }

  std::uint64_t size() const;  // fstat
  // Makes [offset, offset+length) allocated and the size at least offset+length:
  // fallocate(mode 0), else ftruncate where the filesystem has no fallocate. Returns whether
  // fallocate did it.
  bool preallocate(std::uint64_t offset, std::uint64_t length);

 private:
  File() = default;
  // open() for a path already checked, named `shown`.
  static File open_checked(const std::string& path, Access access, DirectMode mode, const std::string& shown);

  FileDescriptor fd_;
  FileDescriptor edge_fd_;
  std::string name_;
  std::string path_;
  Access access_ = Access::read;
  bool created_ = false;
  std::uint64_t size_before_ = 0;
  int descriptor_ = -1;
  bool direct_ = false;
  std::string direct_note_;
  std::uint32_t mem_align_ = 1;
  std::uint32_t offset_align_ = 1;
};

// Throws ConfigError when path holds a NUL byte: the system would read the name only up to it,
// and open another file. `what` names the argument in the message ("path", "folder", ...).
void check_path(const std::string& path, const std::string& what = "path");

// N for a descriptor path ("/proc/self/fd/N" or "/dev/fd/N"), else -1.
int descriptor_of(const std::string& path) noexcept;

// The folder a path's file is in: its parent, or "." for a bare name.
std::string folder_of(const std::string& path);

// Removes the temporaries that process `pid` left beside `target` while replacing it
// (Config::atomic_replace writes "<folder>/.<name>.swapio-<pid>-<random>"): for a caller that
// killed such a writer, and so knows they are nobody else's. Returns how many. Never throws.
std::size_t remove_replacement_temporaries(const std::string& target, int pid) noexcept;

// The direct-I/O offset alignment File::open(path, ..., mode) would use, asked without opening
// anything for writing: path is an existing file, or a folder a new file would be created in.
// 0 when I/O there would be buffered (mode off, or a filesystem that reports no direct-I/O
// support, or none of its alignment under auto). Throws swapio::Error when path cannot be looked at.
std::uint32_t direct_offset_alignment(const std::string& path, DirectMode mode);

// Reads exactly length bytes at offset through a buffered descriptor (resuming short reads);
// throws swapio::Error on failure or end of file.
void pread_exact(int fd, void* buf, std::uint64_t length, std::uint64_t offset, const std::string& path);
void pwrite_exact(int fd, const void* buf, std::uint64_t length, std::uint64_t offset, const std::string& path);

}  // namespace swapio
