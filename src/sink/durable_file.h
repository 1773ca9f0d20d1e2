// Files that appear whole or not at all, and stay after a crash: write under a temporary name,
// fsync, rename over the final name, fsync the directory so the rename itself is on disk.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <arrow/buffer.h>
#include <arrow/result.h>
#include <arrow/status.h>

namespace clickstream::sink {

// Creates the directory (and its parents) unless it exists; a new directory's entry in its parent
// is synced too, or a crash could lose the directory with the files renamed into it.
arrow::Status EnsureDirectory(const std::string& directory);

// Writes `contents` to directory/temp_name, syncs it, renames it to directory/final_name and
// syncs the directory. Errors name the path and the system's reason (ENOSPC, EACCES, ...).
arrow::Status WriteFileDurably(const std::string& directory, std::string_view temp_name, std::string_view final_name,
                               const arrow::Buffer& contents);

// Syncs a directory, making the renames into it durable.
arrow::Status SyncDirectory(const std::string& directory);

// WriteFileDurably() taken apart, so that many files can share the expensive steps: stage every
// file, Sync() them side by side, Publish() them, then sync each distinct directory once.
// Until Publish() succeeds the file exists only under its temporary name, which the destructor
// removes (best effort: the recovery scan removes what a crash leaves).
class StagedFile {
 public:
  // Creates directory/temp_name and writes `contents` to it, without syncing.
  static arrow::Result<std::unique_ptr<StagedFile>> Create(const std::string& directory, std::string_view temp_name,
                                                           std::string_view final_name, const arrow::Buffer& contents);
  ~StagedFile();
  StagedFile(const StagedFile&) = delete;
  StagedFile& operator=(const StagedFile&) = delete;

  // Safe to call from several threads at once on different files.
  arrow::Status Sync();
  // Closes the file and renames it to its final name; durable only once its directory is synced.
  arrow::Status Publish();

  const std::string& directory() const { return directory_; }
  const std::string& final_path() const { return final_path_; }

 private:
  StagedFile(std::string directory, std::string temp_path, std::string final_path, int fd);

  std::string directory_;
  std::string temp_path_;
  std::string final_path_;
  int fd_;
  bool published_ = false;
};

}  // namespace clickstream::sink
