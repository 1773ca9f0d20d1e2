// The POSIX side of a local dataset: an owned file descriptor, the fsyncs that make a file and its
// directory entries durable, and errno turned into a Status that names the path. The local store,
// the compactor and the directory locks use these, so each result is checked in one place.
#pragma once

#include <string>
#include <string_view>

#include <arrow/status.h>

namespace clickstream::sink {

// An owned file descriptor, closed by the destructor unless Close() closed it first.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd = -1) : fd_(fd) {}
  ~FileDescriptor() { Reset(-1); }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Closes the descriptor held (its result unchecked: nothing written through it is at stake) and
  // takes `fd` instead.
  void Reset(int fd);
  // close() can report a deferred write error (NFS, quota), so whoever wrote through the
  // descriptor closes it with this and checks the result, rather than leave it to the destructor.
  // Returns close()'s result, with errno set on failure; the descriptor is released either way.
  int Close();

 private:
  int fd_;
};

// IOError "cannot <action> <path>: <strerror(errno)>".
arrow::Status ErrnoStatus(std::string_view action, const std::string& path);

// fsync()s a file that is written and closed, so that its contents survive a crash.
arrow::Status SyncFile(const std::string& path);

// fsync()s a directory, so that the entries created, renamed or removed in it survive a crash.
arrow::Status SyncDirectory(const std::string& directory);

}  // namespace clickstream::sink
