// Keeps a consumer landing into an event_date directory (or, for the files at the root, the root:
// kRootLockName) and `clickstream compact` swapping that directory apart. Each directory has a lock file under <root>/.clickstream-locks/ (outside the
// directory that gets swapped, so both sides lock the same inode): a consumer holds it shared while
// it writes, renames or removes files in the directory, the compactor holds it exclusively around
// the swap. flock() locks die with their process, so a SIGKILL never leaves a directory locked.
#pragma once

#include <memory>
#include <string>

#include <arrow/result.h>

#include "sink/parquet/posix_file.h"

namespace clickstream::sink {

class DirectoryLock {
 public:
  enum class Mode { kShared, kExclusive };

  // Locks `name` (an event_date=… directory, or another name such as "compact") of the dataset at
  // `root`, creating the lock file when missing. Waits for the lock when `wait`; otherwise returns
  // nullptr when someone else holds it.
  static arrow::Result<std::unique_ptr<DirectoryLock>> Acquire(const std::string& root, const std::string& name,
                                                                Mode mode, bool wait = true);

 private:
  explicit DirectoryLock(int fd) : fd_(fd) {}
  FileDescriptor fd_;  // closing it releases the lock
};

// The hidden directory of the lock files: no reader's glob of *.parquet matches anything in it.
inline constexpr char kLockDirectoryName[] = ".clickstream-locks";
// The lock of the files at the root itself (the flat layout's data, the dead-letter markers).
inline constexpr char kRootLockName[] = "root";

}  // namespace clickstream::sink
