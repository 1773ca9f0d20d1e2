// A small fan-out for the Parquet sink: encoding files and syncing them are independent per file.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <future>
#include <vector>

#include <arrow/status.h>

namespace clickstream::sink {

// Runs task(i) for every i in [0, count) on up to max_threads threads; the statuses are combined.
inline arrow::Status RunConcurrently(size_t count, size_t max_threads,
                                     const std::function<arrow::Status(size_t)>& task) {
  if (count == 0) return arrow::Status::OK();
  if (count == 1 || max_threads <= 1) {
    arrow::Status status;
    for (size_t i = 0; i < count; ++i) status &= task(i);
    return status;
  }
  const size_t threads = std::min(count, max_threads);
  std::vector<std::future<arrow::Status>> results;
  results.reserve(threads);
  for (size_t t = 0; t < threads; ++t) {
    results.push_back(std::async(std::launch::async, [&task, t, threads, count] {
      arrow::Status status;
      for (size_t i = t; i < count; i += threads) status &= task(i);
      return status;
    }));
  }
  arrow::Status status;
  for (auto& result : results) status &= result.get();
  return status;
}

}  // namespace clickstream::sink
