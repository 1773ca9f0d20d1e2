// A fresh directory per test under the system's temp directory, removed with everything in it
// when the test ends.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <string_view>

namespace clickstream::test_support {

class TempDir {
 public:
  explicit TempDir(std::string_view purpose) {
    path_ = std::filesystem::temp_directory_path() / ("clickstream-" + std::string(purpose) + "-" +
                                                      std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

}  // namespace clickstream::test_support
