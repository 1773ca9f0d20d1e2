#include "produce/stop_signal.h"

#include <csignal>

namespace clickstream::produce {

namespace {

StopSignal& Instance() {
  static StopSignal instance;
  return instance;
}

void OnStopSignal(int signal_number) {
  StopSignal& stop = Instance();
  stop.signal_number.store(signal_number);
  stop.requested.store(true);
}

}  // namespace

const StopSignal& InstallStopSignalHandlers() {
  StopSignal& stop = Instance();  // constructed before any handler can run
  struct sigaction action = {};
  action.sa_handler = &OnStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  return stop;
}

}  // namespace clickstream::produce
