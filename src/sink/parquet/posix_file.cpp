#include "sink/parquet/posix_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace clickstream::sink {

namespace {

// What a failed step of SyncPath says it could not do, as literals: errno must reach ErrnoStatus
// before anything that might allocate.
struct SyncActions {
  std::string_view open;
  std::string_view sync;
  std::string_view close;
};
constexpr SyncActions kFileActions{"open", "sync", "close"};
constexpr SyncActions kDirectoryActions{"open directory", "sync directory", "close directory"};

// Opens the path read-only (fsync needs no more, and a directory opens no other way), syncs it and
// closes it, checking all three.
arrow::Status SyncPath(const std::string& path, int flags, const SyncActions& actions) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | flags));
  if (!fd.valid()) return ErrnoStatus(actions.open, path);
  if (::fsync(fd.get()) != 0) return ErrnoStatus(actions.sync, path);
  if (fd.Close() != 0) return ErrnoStatus(actions.close, path);
  return arrow::Status::OK();
}

}  // namespace

void FileDescriptor::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

int FileDescriptor::Close() {
  const int result = ::close(fd_);
  fd_ = -1;
  return result;
}

arrow::Status ErrnoStatus(std::string_view action, const std::string& path) {
  return arrow::Status::IOError("cannot ", action, " ", path, ": ", std::strerror(errno));
}

arrow::Status SyncFile(const std::string& path) { return SyncPath(path, 0, kFileActions); }

arrow::Status SyncDirectory(const std::string& directory) { return SyncPath(directory, O_DIRECTORY, kDirectoryActions); }

}  // namespace clickstream::sink
