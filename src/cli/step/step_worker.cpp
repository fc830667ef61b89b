// A `swapio step` rank: this binary run as `swapio __step_worker SPEC`. It sets up its engine,
// then runs the plan's phases one by one, each reported to the parent and followed by its barrier.
#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>

#include "bench/worker_channel.hpp"
#include "step/step.hpp"
#include "step/step_rank.hpp"
#include "swapio/error.hpp"
#include "swapio/file.hpp"

namespace swapio::cli {
namespace {

using worker_channel::barrier;
using worker_channel::report;

// Tests only: SWAPIO_STEP_TEST_CORRUPT names a file whose byte at offset 4100 is flipped before
// validation, so that the test can see --validate catch it.
void corrupt_for_test() {
  const char* path = std::getenv("SWAPIO_STEP_TEST_CORRUPT");
  if (path == nullptr || ::access(path, F_OK) != 0) return;
  const FileDescriptor fd(::open(path, O_RDWR | O_CLOEXEC));
  if (!fd.valid()) throw_io_error(errno, "open", path);
  char c = 0;
  pread_exact(fd.get(), &c, 1, 4100, path);
  c = static_cast<char>(~c);
  pwrite_exact(fd.get(), &c, 1, 4100, path);
}

nlohmann::json run_phase(RankEngine& e, const nlohmann::json& phase) {
  const std::string name = phase.at("event");
  nlohmann::json ev = phase;
  using M = RankEngine::Measure;
  if (name == "ceiling-prepare") {
    (void)e.measure(M::prepare);
  } else if (name == "ceiling-write" || name == "ceiling-read" || name == "ceiling-duplex") {
    ev["seconds"] = e.measure(name == "ceiling-write" ? M::write : name == "ceiling-read" ? M::read : M::duplex);
  } else if (name == "ceiling-remove") {
    e.ceiling_remove();
  } else if (name == "begin") {
    e.begin(parse_schedules(phase.at("schedule").get<std::string>()).front());
  } else if (name == "step") {
    const Schedule s = parse_schedules(phase.at("schedule").get<std::string>()).front();
    ev["figures"] = e.step(s, phase.at("number"), phase.at("last")).to_json();
  } else if (name == "validate") {
    corrupt_for_test();
    ev["validation"] = e.validate();
  } else {
    throw std::runtime_error("unknown phase '" + name + "' in the worker's plan");
  }
  return ev;
}

}  // namespace

int step_worker_main(const std::string& spec_text) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the parent
  try {
    const nlohmann::json spec = nlohmann::json::parse(spec_text);
    report({{"event", "started"}, {"pid", ::getpid()}});
    barrier();
    RankEngine engine(RankSpec::from_json(spec.at("rank")));
    report({{"event", "ready"}});
    barrier();
    const std::vector<nlohmann::json> plan = step_plan(spec.at("plan"));
    for (std::size_t i = 0; i < plan.size(); ++i) {
      report(run_phase(engine, plan[i]));
      if (i + 1 < plan.size()) barrier();
    }
    return 0;
  } catch (const std::exception& e) {
    report({{"event", "error"}, {"message", e.what()}});
    return 1;
  }
}

}  // namespace swapio::cli
