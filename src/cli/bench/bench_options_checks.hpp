// The checks of the files a bench line reads and writes, made before any worker starts and
// before any file is touched. Each throws ConfigError with one line naming the argument.
#pragma once

#include <string>

#include "bench/bench_options.hpp"

namespace swapio::cli {

// path must be a non-empty regular file this process may read.
void check_readable_file(const std::string& path);
// Each <write-file>.<i> that exists already must be a regular file we may replace.
void check_write_targets(const BenchOptions& o);
// The direct-I/O alignment of every file the run reads or writes must divide the block size.
void check_direct_alignment(const BenchOptions& o);
// The files the run writes must fit in their filesystems' free space.
void check_free_space(const BenchOptions& o);

}  // namespace swapio::cli
