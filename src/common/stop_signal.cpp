#include "common/stop_signal.h"

#include <unistd.h>

#include <csignal>

namespace clickstream {

namespace {

// Lock-free atomics, so storing from the handler is async-signal-safe.
static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<int>::is_always_lock_free);

StopSignal& Instance() {
  static StopSignal instance;
  return instance;
}

void OnStopSignal(int signal_number) {
  StopSignal& stop = Instance();
  if (stop.requested.load()) _exit(128 + signal_number);  // the second signal
  // The number first: a loop that sees the flag then reads which signal it was.
  stop.signal_number.store(signal_number);
  stop.requested.store(true);
}

}  // namespace

const StopSignal& InstallStopSignalHandlers() {
  StopSignal& stop = Instance();  // constructed before any handler can run
  struct sigaction action = {};
  action.sa_handler = &OnStopSignal;
  // Each handler runs with both signals blocked, so a SIGINT cannot interleave with a SIGTERM's
  // handler: the second of the two always finds the flag set.
  sigemptyset(&action.sa_mask);
  sigaddset(&action.sa_mask, SIGINT);
  sigaddset(&action.sa_mask, SIGTERM);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  return stop;
}

}  // namespace clickstream
