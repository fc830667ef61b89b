// What the stand-in libcufile.so.0 exports besides cuFile's entry points, for the tests that load
// it: its counters (swapio_cufile_standin_counters). swapio's side of its one other extra,
// swapio_cufile_standin_attach, is cufile_api.hpp's StandinAttachFn.
#pragma once

namespace swapio::standin {

struct Counters {
  long driver_opens, driver_closes, handle_registers, handle_deregisters, live_handles, buf_registers,
      buf_deregisters, live_buffers, reads, writes, short_transfers;
};

using CountersFn = void (*)(Counters*);  // swapio_cufile_standin_counters

}  // namespace swapio::standin
