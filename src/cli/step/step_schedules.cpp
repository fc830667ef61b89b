// One optimizer step of one rank under each schedule. partitioned and pipelined follow DeepSpeed's
// PartitionedOptimizerSwapper and PipelinedOptimizerSwapper (pipeline_read and pipeline_write on)
// op for op: what each issues, on which handle, and where it waits for the whole handle. swapio's
// keeps `prefetch` sub-groups of reads and `write_behind` of writes in flight, each tensor on its
// folder's handle, and waits for the ops it needs, not for a whole handle.
#include <chrono>
#include <cstring>
#include <deque>
#include <utility>

#include "step/step_files.hpp"
#include "step/step_rank.hpp"

namespace swapio::cli {

class ScheduleRun {
 public:
  ScheduleRun(RankEngine& e, Schedule s, unsigned number, bool last)
      : e_(e), m_(e.model_), s_(s), number_(number), record_(last && e.spec_.validate) {}

  StepFigures run() {
    const auto t0 = Clock::now();
    if (m_.shape().swap_grads) backward();
    f_.gradient_seconds = since(t0);
    switch (s_) {
      case Schedule::partitioned: partitioned(); break;
      case Schedule::pipelined: pipelined(); break;
      case Schedule::swapio: swapio(); break;
    }
    f_.seconds = since(t0);
    return f_;
  }

 private:
  using Clock = std::chrono::steady_clock;
  using Ops = std::vector<std::pair<Handle*, Handle::OpId>>;
  struct Flight {
    unsigned slot = 0;
    Ops ops;
  };

  static double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

  // DeepSpeed's handles: partitioned has one; pipelined a read and a write handle.
  Handle& ds_read() { return *e_.ds_handles_[0]; }
  Handle& ds_write() { return *e_.ds_handles_[s_ == Schedule::pipelined ? 1 : 0]; }
  // The handle of tensor t's file: DeepSpeed's one (read or write), or its folder's.
  Handle& handle(const SubGroup& g, unsigned t, Direction d) {
    if (s_ != Schedule::swapio) return d == Direction::read ? ds_read() : ds_write();
    const std::size_t f = step_file_folder(m_, e_.spec_.folders.size(), e_.spec_.rank, s_, g, t);
    return d == Direction::read ? *e_.swapio_read_[f] : *e_.swapio_write_[f];
  }

  // Moves buffer `data` to or from g's tensor t (the gradient when t == tensors()).
  void issue(Ops& ops, Direction d, float* data, const SubGroup& g, unsigned t) {
    const std::uint64_t bytes = g.aligned_numel * StepModel::kElementBytes;
    const std::string path = e_.path(s_, g, t);
    if (d == Direction::write && record_) e_.record(path, data, bytes);
    Handle& h = handle(g, t, d);
    const std::span<std::byte> span(reinterpret_cast<std::byte*>(data), static_cast<std::size_t>(bytes));
    ops.emplace_back(&h, h.async_transfer(d, span, path, 0));
    (d == Direction::read ? f_.read_bytes : f_.write_bytes) += bytes;
  }

  // A sub-group's swap-in: the parameters, the states once they exist, the gradient if asked.
  Ops read_group(unsigned slot, const SubGroup& g, bool tensors, bool gradient) {
    Ops ops;
    if (tensors) {
      const unsigned n = number_ == 1 ? 1 : m_.tensors();  // the first step creates the states
      for (unsigned t = 0; t < n; ++t) issue(ops, Direction::read, e_.buffer(slot, t), g, t);
    }
    if (gradient && m_.shape().swap_grads) issue(ops, Direction::read, e_.buffer(slot, m_.tensors()), g, m_.tensors());
    return ops;
  }

  Ops write_group(unsigned slot, const SubGroup& g) {
    Ops ops;
    for (unsigned t = 0; t < m_.tensors(); ++t) issue(ops, Direction::write, e_.buffer(slot, t), g, t);
    return ops;
  }

  // Waits for ops one by one; returns the seconds it took. Each op's error is thrown.
  static double wait_ops(Ops& ops) {
    const auto t0 = Clock::now();
    for (auto& [h, id] : ops) (void)h->wait(id);
    ops.clear();
    return since(t0);
  }

  // DeepSpeed's aio_handle.wait(): every op of the handle.
  static double wait_all(Handle& h) {
    const auto t0 = Clock::now();
    WaitResult r = h.wait();
    if (!r.ok()) std::rethrow_exception(r.first_error);
    return since(t0);
  }

  // The optimizer's work on the sub-group in `slot`.
  void compute(unsigned slot, const SubGroup& g) {
    const auto t0 = Clock::now();
    const ComputeSpec& c = e_.spec_.compute;
    if (c.kind == ComputeSpec::Kind::update) {
      float* grad = e_.buffer(slot, m_.tensors());
      if (!m_.shape().swap_grads) fill_gradient(grad, g.numel, g.index * 1000003ull + number_, c.threads);
      std::vector<float*> states;
      for (unsigned t = 1; t < m_.tensors(); ++t) {
        states.push_back(e_.buffer(slot, t));
        if (number_ == 1) std::memset(states.back(), 0, g.aligned_numel * StepModel::kElementBytes);
      }
      optimizer_update(m_.optimizer().name, number_, e_.buffer(slot, 0), states, grad, g.numel, c.threads);
    } else if (c.kind == ComputeSpec::Kind::modelled) {
      modelled_compute(g.aligned_numel * StepModel::kElementBytes * (m_.tensors() + 1), c.gib_per_s);
    }
    f_.compute += since(t0);
  }

  // Backward's gradient swap-out, through every buffer of the pool in turn. DeepSpeed's gradient
  // swapper waits for its whole write handle when its buffers run out; swapio's for the oldest op.
  void backward() {
    const std::size_t buffers = e_.pool_.size();
    std::deque<std::pair<Handle*, Handle::OpId>> window;  // in flight, oldest first
    for (const SubGroup& g : m_.groups()) {
      if (window.size() == buffers && s_ == Schedule::swapio) {
        (void)window.front().first->wait(window.front().second);
        window.pop_front();
      } else if (window.size() == buffers) {
        (void)wait_all(ds_write());
        window.clear();
      }
      auto* data = reinterpret_cast<float*>(e_.pool_[next_buffer_++ % buffers].data());  // the oldest is free
      if (e_.spec_.compute.kind == ComputeSpec::Kind::update) {
        fill_gradient(data, g.numel, g.index * 1000003ull + number_, e_.spec_.compute.threads);
        std::memset(data + g.numel, 0, (g.aligned_numel - g.numel) * StepModel::kElementBytes);
      }
      Ops ops;
      issue(ops, Direction::write, data, g, m_.tensors());
      window.push_back(ops.front());
    }
    for (auto& [h, id] : window) (void)h->wait(id);
  }

  void partitioned() {
    Handle& h = ds_read();
    for (const SubGroup& g : m_.groups()) {
      (void)read_group(0, g, true, false);
      f_.read_wait += wait_all(h);
      if (m_.shape().swap_grads) {
        (void)read_group(0, g, false, true);
        f_.read_wait += wait_all(h);
      }
      compute(0, g);
      (void)write_group(0, g);
      f_.write_wait += wait_all(h);
    }
  }

  void pipelined() {
    const auto& groups = m_.groups();
    bool prefetched = false, writing = false;
    for (std::size_t i = 0; i < groups.size(); ++i) {
      const unsigned slot = static_cast<unsigned>(i % 3);
      if (!prefetched) (void)read_group(slot, groups[i], true, true);
      f_.read_wait += wait_all(ds_read());
      prefetched = i + 1 < groups.size();
      if (prefetched) (void)read_group(static_cast<unsigned>((i + 1) % 3), groups[i + 1], true, true);
      compute(slot, groups[i]);
      if (writing) f_.write_wait += wait_all(ds_write());
      (void)write_group(slot, groups[i]);
      writing = i + 1 < groups.size();
      if (!writing) f_.write_wait += wait_all(ds_write());
    }
  }

  void swapio() {
    const auto& groups = m_.groups();
    const unsigned prefetch = e_.spec_.prefetch, behind = e_.spec_.write_behind;
    std::deque<unsigned> free_slots;
    for (unsigned s = 0; s < 1 + prefetch + behind; ++s) free_slots.push_back(s);
    std::deque<Flight> reads, writes;
    auto retire_write = [&] {
      f_.write_wait += wait_ops(writes.front().ops);
      free_slots.push_back(writes.front().slot);
      writes.pop_front();
    };
    std::size_t next = 0;
    for (std::size_t i = 0; i < groups.size(); ++i) {
      for (; next < groups.size() && next <= i + prefetch; ++next) {
        if (free_slots.empty()) retire_write();
        const unsigned slot = free_slots.front();
        free_slots.pop_front();
        reads.push_back({slot, read_group(slot, groups[next], true, true)});
      }
      Flight r = std::move(reads.front());
      reads.pop_front();
      f_.read_wait += wait_ops(r.ops);
      compute(r.slot, groups[i]);
      writes.push_back({r.slot, write_group(r.slot, groups[i])});
      while (writes.size() > behind) retire_write();
    }
    while (!writes.empty()) retire_write();
  }

  RankEngine& e_;
  const StepModel& m_;
  const Schedule s_;
  const unsigned number_;
  const bool record_;
  unsigned next_buffer_ = 0;
  StepFigures f_;
};

StepFigures RankEngine::step(Schedule s, unsigned number, bool last) { return ScheduleRun(*this, s, number, last).run(); }

}  // namespace swapio::cli
