#include "sink/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace clickstream::sink {

namespace fs = std::filesystem;

namespace {

// An owned file descriptor.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // close() can report a deferred write error (NFS, quota), so it is checked, not left to the destructor.
  int Close() {
    const int result = ::close(fd_);
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

arrow::Status ErrnoStatus(std::string_view action, const std::string& path) {
  return arrow::Status::IOError("cannot ", action, " ", path, ": ", std::strerror(errno));
}

arrow::Status WriteAll(int fd, const uint8_t* data, int64_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, static_cast<size_t>(size));
    if (written < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", path);
    }
    data += written;
    size -= written;
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Status SyncDirectory(const std::string& directory) {
  FileDescriptor fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open directory", directory);
  if (::fsync(fd.get()) != 0) return ErrnoStatus("sync directory", directory);
  return arrow::Status::OK();
}

arrow::Status EnsureDirectory(const std::string& directory) {
  std::error_code error;
  if (fs::is_directory(directory, error)) return arrow::Status::OK();
  const fs::path path(directory);
  if (path.has_parent_path() && path.parent_path() != path) {
    ARROW_RETURN_NOT_OK(EnsureDirectory(path.parent_path().string()));
  }
  if (!fs::create_directory(path, error) && error) {
    return arrow::Status::IOError("cannot create directory ", directory, ": ", error.message());
  }
  if (!fs::is_directory(path, error)) {
    return arrow::Status::IOError("cannot create directory ", directory, ": a file of that name is in the way");
  }
  const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
  return SyncDirectory(parent.empty() ? "." : parent.string());
}

arrow::Status WriteFileDurably(const std::string& directory, std::string_view temp_name, std::string_view final_name,
                               const arrow::Buffer& contents) {
  const std::string temp_path = (fs::path(directory) / temp_name).string();
  const std::string final_path = (fs::path(directory) / final_name).string();
  FileDescriptor fd(::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoStatus("create", temp_path);
  arrow::Status status = WriteAll(fd.get(), contents.data(), contents.size(), temp_path);
  if (status.ok() && ::fsync(fd.get()) != 0) status = ErrnoStatus("sync", temp_path);
  if (fd.Close() != 0 && status.ok()) status = ErrnoStatus("close", temp_path);
  if (status.ok() && ::rename(temp_path.c_str(), final_path.c_str()) != 0) {
    status = ErrnoStatus("rename into place", final_path);
  }
  if (!status.ok()) {
    ::unlink(temp_path.c_str());  // best effort: the recovery scan removes it otherwise
    return status;
  }
  return SyncDirectory(directory);
}

arrow::Result<std::unique_ptr<StagedFile>> StagedFile::Create(const std::string& directory,
                                                              std::string_view temp_name, std::string_view final_name,
                                                              const arrow::Buffer& contents) {
  std::string temp_path = (fs::path(directory) / temp_name).string();
  std::string final_path = (fs::path(directory) / final_name).string();
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("create", temp_path);
  std::unique_ptr<StagedFile> file(new StagedFile(directory, std::move(temp_path), std::move(final_path), fd));
  ARROW_RETURN_NOT_OK(WriteAll(fd, contents.data(), contents.size(), file->temp_path_));
  return file;
}

StagedFile::StagedFile(std::string directory, std::string temp_path, std::string final_path, int fd)
    : directory_(std::move(directory)), temp_path_(std::move(temp_path)), final_path_(std::move(final_path)), fd_(fd) {}

StagedFile::~StagedFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!published_) ::unlink(temp_path_.c_str());
}

arrow::Status StagedFile::Sync() {
  if (::fsync(fd_) != 0) return ErrnoStatus("sync", temp_path_);
  return arrow::Status::OK();
}

arrow::Status StagedFile::Publish() {
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return ErrnoStatus("close", temp_path_);
  if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) return ErrnoStatus("rename into place", final_path_);
  published_ = true;
  return arrow::Status::OK();
}

}  // namespace clickstream::sink
