#include "sink/parquet/directory_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace clickstream::sink {

arrow::Result<std::unique_ptr<DirectoryLock>> DirectoryLock::Acquire(const std::string& root, const std::string& name,
                                                                      Mode mode, bool wait) {
  const std::string directory = root + "/" + kLockDirectoryName;
  const std::string path = directory + "/" + name + ".lock";
  while (true) {
    if (::mkdir(directory.c_str(), 0755) != 0 && errno != EEXIST) {
      return arrow::Status::IOError("cannot create ", directory, ": ", std::strerror(errno));
    }
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return arrow::Status::IOError("cannot open lock file ", path, ": ", std::strerror(errno));
    std::unique_ptr<DirectoryLock> lock(new DirectoryLock(fd));
    const int operation = (mode == Mode::kShared ? LOCK_SH : LOCK_EX) | (wait ? 0 : LOCK_NB);
    while (::flock(fd, operation) != 0) {
      if (errno == EINTR) continue;
      if (errno == EWOULDBLOCK && !wait) return nullptr;
      return arrow::Status::IOError("cannot lock ", path, ": ", std::strerror(errno));
    }
    // Swapping the flat layout's root swaps the lock directory away with it: a lock taken on the
    // old file guards nothing any more, so it is taken again on the file the path names now.
    struct stat held {};
    struct stat named {};
    if (::fstat(fd, &held) == 0 && ::stat(path.c_str(), &named) == 0 && held.st_ino == named.st_ino &&
        held.st_dev == named.st_dev) {
      return lock;
    }
  }
}

}  // namespace clickstream::sink
