// The fault-injecting decorator of a backend (see swapio/fault.hpp).
#include <algorithm>
#include <deque>
#include <thread>
#include <unordered_map>

#include "swapio/detail/backend.hpp"
#include "swapio/fault.hpp"

namespace swapio::detail {
namespace {

class FaultBackend final : public Backend {
 public:
  FaultBackend(std::unique_ptr<Backend> inner, std::shared_ptr<FaultInjector> faults)
      : inner_(std::move(inner)), faults_(std::move(faults)) {}

  const char* name() const noexcept override { return inner_->name(); }
  unsigned capacity() const noexcept override { return inner_->capacity(); }

  void prepare(const Request& r) override {
    const FaultRule* rule = faults_->next(r.write);
    if (rule == nullptr) return pass(r);
    switch (rule->kind) {
      case FaultKind::error:
      case FaultKind::transient:
        synthetic_.push_back(Completion{r.tag, -static_cast<std::int64_t>(rule->error)});
        faults_->track(1);
        return;
      case FaultKind::short_io: {
        if (r.len < 2) return pass(r);
        // A multiple of 4 KiB is really cut (direct I/O accepts it); any other amount runs whole
        // and its completion reports only `keep` bytes, so the caller must move the rest again.
        std::uint32_t keep = rule->keep != 0 ? std::min(rule->keep, r.len - 1) : r.len / 2 / 4096 * 4096;
        if (keep == 0) keep = r.len / 2;
        Request cut = r;
        if (keep % 4096 == 0) cut.len = keep;
        else reported_[r.tag] = keep;
        return pass(cut);
      }
      case FaultKind::delay:
        delayed_[r.tag] = rule->delay;
        return pass(r);
      case FaultKind::call:
        if (rule->action) rule->action();
        return pass(r);
    }
  }

  void submit() override { inner_->submit(); }

  std::size_t reap(std::span<Completion> out, std::size_t min_wait) override {
    // Injected results go first; they leave the queue only once the inner reap succeeded.
    const std::size_t n = std::min(out.size(), synthetic_.size());
    std::size_t got = 0;
    if (n < out.size() && outstanding_ > 0) {
      got = inner_->reap(out.subspan(n), n >= min_wait ? 0 : min_wait - n);
      outstanding_ -= got;
      for (std::size_t i = n; i < n + got; ++i) {
        Completion& c = out[i];
        if (auto it = reported_.find(c.tag); it != reported_.end()) {
          if (c.res > it->second) c.res = it->second;
          reported_.erase(it);
        }
        if (auto it = delayed_.find(c.tag); it != delayed_.end()) {
          std::this_thread::sleep_for(it->second);
          delayed_.erase(it);
        }
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      out[i] = synthetic_.front();
      synthetic_.pop_front();
    }
    faults_->track(-static_cast<std::int64_t>(n + got));
    return n + got;
  }

  bool drain() noexcept override {
    const std::size_t discarded = synthetic_.size();
    synthetic_.clear();
    reported_.clear();
    delayed_.clear();
    if (!inner_->drain()) {
      faults_->track(-static_cast<std::int64_t>(discarded));
      return false;
    }
    faults_->track(-static_cast<std::int64_t>(discarded + outstanding_));
    outstanding_ = 0;
    return true;
  }

  bool attach_file(int fd) override { return inner_->attach_file(fd); }
  void detach_file() noexcept override { inner_->detach_file(); }
  bool register_buffer(void* base, std::size_t len) override { return inner_->register_buffer(base, len); }
  void unregister_buffer() noexcept override { inner_->unregister_buffer(); }
  std::string notes() const override { return inner_->notes(); }

 private:
  void pass(const Request& r) {
    inner_->prepare(r);
    ++outstanding_;
    faults_->track(1);
  }

  std::unique_ptr<Backend> inner_;
  std::shared_ptr<FaultInjector> faults_;
  std::deque<Completion> synthetic_;                       // injected results, not yet reaped
  std::unordered_map<std::uint32_t, std::int64_t> reported_;  // tag -> result to report instead
  std::unordered_map<std::uint32_t, std::chrono::microseconds> delayed_;
  std::size_t outstanding_ = 0;  // requests handed to the inner backend, not yet reaped
};

}  // namespace

std::unique_ptr<Backend> make_fault_backend(std::unique_ptr<Backend> inner, std::shared_ptr<FaultInjector> faults) {
  return std::make_unique<FaultBackend>(std::move(inner), std::move(faults));
}

}  // namespace swapio::detail
