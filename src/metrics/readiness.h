// Whether the process does its job, and if not why: set by the stage that runs, read by whoever
// asks (the status server's /ready). Thread-safe.
#pragma once

#include <mutex>
#include <string>

namespace clickstream::metrics {

class Readiness {
 public:
  void SetReady();
  void SetNotReady(std::string reason);
  bool ready() const;
  // "ready", or "not ready: <reason>".
  std::string Describe() const;

 private:
  mutable std::mutex mutex_;
  bool ready_ = false;
  std::string reason_ = "starting";
};

}  // namespace clickstream::metrics
