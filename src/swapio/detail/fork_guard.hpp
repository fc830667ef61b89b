// A process-wide lock that fork() cannot leave held: the forking thread takes it first, so no
// other thread is inside it (mid-update) when the child's copy of memory is made; the parent
// lets it go, and the child starts with a fresh one (the thread that held it is not in the child).
#pragma once

#include <pthread.h>

#include <memory>

namespace swapio::detail {

// Get() returns the lock; it is called only at fork time. Register once, after the lock exists.
template <auto Get>
void guard_across_fork() noexcept {
  ::pthread_atfork([] { Get()->lock(); }, [] { Get()->unlock(); }, [] { std::construct_at(Get()); });
}

}  // namespace swapio::detail
