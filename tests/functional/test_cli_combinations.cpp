// Options that matter only beside another one: given without it, or beside one that makes them
// moot, the command would run and ignore them. Each is refused (one line naming both options,
// exit status 2, nothing created), and the combinations that do count still run.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_fixture.hpp"

namespace swapio::test {
namespace {

TEST_F(Cli, QualifyFleetTimeoutNeedsFleet) {
  expect_refused({
      {{"qualify", "--fleet-timeout", "5"}, "swapio qualify: --fleet-timeout needs --fleet"},
      {{"qualify", "--fleet-timeout", "5", "--folder", dir_.path(), "--junit", dir_.file("q.xml")},
       "--fleet-timeout needs --fleet"},
  });
}

}  // namespace
}  // namespace swapio::test
