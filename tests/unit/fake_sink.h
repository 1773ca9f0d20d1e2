// A scripted sink for the consume loop's unit tests: Recover answers what the test set, Land fails
// or is fenced as many times as asked (and can be held in flight), and every call is recorded.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "sink/sink.h"

namespace clickstream::consume {

class FakeSink final : public sink::Sink {
 public:
  struct BatchRange {
    int32_t partition;
    int64_t first_offset;
    int64_t last_offset;
    bool operator==(const BatchRange&) const = default;
  };
  struct LandCall {
    std::vector<BatchRange> batches;
    std::string write_time;
  };

  // Scripted answers; set them before the code under test runs.
  std::map<int32_t, sink::PartitionResume> resumes;
  int failing_lands = 0;  // the next this many Land() calls fail with an IOError
  int fenced_lands = 0;   // then this many are fenced

  std::string Describe() const override { return "the fake sink"; }

  arrow::Result<std::map<int32_t, sink::PartitionResume>> Recover(const std::set<int32_t>& partitions) override {
    std::lock_guard lock(mutex_);
    calls_.push_back("Recover");
    recovered_.push_back(partitions);
    std::map<int32_t, sink::PartitionResume> answer;
    for (int32_t partition : partitions) {
      if (auto it = resumes.find(partition); it != resumes.end()) answer[partition] = it->second;
    }
    return answer;
  }

  arrow::Result<std::vector<sink::LandedBatch>> Land(const std::vector<sink::PartitionBatchData>& batches,
                                                     const std::string& write_time) override {
    std::unique_lock lock(mutex_);
    calls_.push_back("Land");
    LandCall call{{}, write_time};
    for (const sink::PartitionBatchData& batch : batches) {
      call.batches.push_back({batch.partition, batch.first_offset, batch.last_offset});
    }
    lands_.push_back(std::move(call));
    // Bounded, so that code under test which waits for a held round fails its test, not hangs it.
    released_.wait_for(lock, std::chrono::seconds(5), [this] { return !held_; });
    if (failing_lands > 0) {
      --failing_lands;
      return arrow::Status::IOError("disk full (scripted)");
    }
    if (fenced_lands > 0) {
      --fenced_lands;
      return sink::FencedError("another member landed (scripted)");
    }
    return std::vector<sink::LandedBatch>(batches.size(), sink::LandedBatch{1, 100});
  }

  void Forget(const std::set<int32_t>& partitions) override {
    std::lock_guard lock(mutex_);
    calls_.push_back("Forget");
    forgotten_.push_back(partitions);
  }

  // Land() waits, once called, until Release() (or 5 s): the round stays in flight meanwhile.
  void Hold() {
    std::lock_guard lock(mutex_);
    held_ = true;
  }
  void Release() {
    {
      std::lock_guard lock(mutex_);
      held_ = false;
    }
    released_.notify_all();
  }

  std::vector<std::string> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  std::vector<LandCall> lands() const {
    std::lock_guard lock(mutex_);
    return lands_;
  }
  std::vector<std::set<int32_t>> recovered() const {
    std::lock_guard lock(mutex_);
    return recovered_;
  }
  std::vector<std::set<int32_t>> forgotten() const {
    std::lock_guard lock(mutex_);
    return forgotten_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable released_;
  bool held_ = false;
  std::vector<std::string> calls_;
  std::vector<LandCall> lands_;
  std::vector<std::set<int32_t>> recovered_;
  std::vector<std::set<int32_t>> forgotten_;
};

}  // namespace clickstream::consume
