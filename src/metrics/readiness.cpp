#include "metrics/readiness.h"

#include <utility>

namespace clickstream::metrics {

void Readiness::SetReady() {
  std::lock_guard lock(mutex_);
  ready_ = true;
  reason_.clear();
}

void Readiness::SetNotReady(std::string reason) {
  std::lock_guard lock(mutex_);
  ready_ = false;
  reason_ = std::move(reason);
}

bool Readiness::ready() const {
  std::lock_guard lock(mutex_);
  return ready_;
}

std::string Readiness::Describe() const {
  std::lock_guard lock(mutex_);
  return ready_ ? "ready" : "not ready: " + reason_;
}

}  // namespace clickstream::metrics
