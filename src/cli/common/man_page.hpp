// swapio(1), written from the command line's own definition (every subcommand, option, default
// and footer), so the manual page never disagrees with --help.
#pragma once

#include <CLI/CLI.hpp>

namespace swapio::cli {

// Writes the page (troff, man(7) macros) to path. Returns the exit status (1 when it cannot).
int write_man_page(const CLI::App& app, const char* path);

}  // namespace swapio::cli
