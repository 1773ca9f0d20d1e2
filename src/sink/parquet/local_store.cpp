// The local directory store: a file becomes durable by being written under a hidden temp name,
// fsynced, renamed into place and its directory fsynced. Many files share the expensive steps: all
// are written, then synced side by side (ext4 folds the syncs that wait at the same time into one
// journal commit), then renamed and each distinct directory synced once per generation.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <set>
#include <system_error>

#include <arrow/filesystem/localfs.h>

#include "common/crash_point.h"
#include "sink/parquet/concurrency.h"
#include "sink/parquet/dataset_store.h"
#include "sink/parquet/directory_lock.h"
#include "sink/parquet/landed_files.h"
#include "sink/parquet/posix_file.h"

namespace clickstream::sink {

namespace fs = std::filesystem;

namespace {

// fsync blocks in the file system, not the CPU: more threads than cores is what makes it cheap.
constexpr size_t kMaxSyncThreads = 8;

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

// Creates the directory (and its parents) unless it exists; a new directory's entry in its parent
// is synced too, or a crash could lose the directory with the files renamed into it.
arrow::Status EnsureDirectory(const std::string& directory) {
  std::error_code error;
  if (fs::is_directory(directory, error)) return arrow::Status::OK();
  const fs::path path(directory);
  if (path.has_parent_path() && path.parent_path() != path) {
    ARROW_RETURN_NOT_OK(EnsureDirectory(path.parent_path().string()));
  }
  // create_directory() fails with EEXIST on a file of that name, and is quiet when another thread
  // or process created the directory meanwhile: what is there afterwards decides.
  const bool created = fs::create_directory(path, error);
  std::error_code kind_error;
  if (!created && !fs::is_directory(path, kind_error)) {
    if (error && error != std::errc::file_exists) {
      return arrow::Status::IOError("cannot create directory ", directory, ": ", error.message());
    }
    return arrow::Status::IOError("cannot create directory ", directory, ": a file of that name is in the way");
  }
  const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
  return SyncDirectory(parent.empty() ? "." : parent.string());
}

// A file written under its temp name and not yet renamed. Until Publish() succeeds it exists only
// under the temp name, which the destructor removes (best effort: the recovery scan removes what a
// crash leaves).
class StagedFile {
 public:
  static arrow::Result<std::unique_ptr<StagedFile>> Create(const std::string& directory, const std::string& file_name,
                                                           const arrow::Buffer& contents) {
    std::unique_ptr<StagedFile> file(new StagedFile(directory, file_name));
    file->fd_.Reset(::open(file->temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!file->fd_.valid()) return ErrnoStatus("create", file->temp_path_);
    ARROW_RETURN_NOT_OK(WriteAll(file->fd_.get(), contents.data(), contents.size(), file->temp_path_));
    return file;
  }
  ~StagedFile() {
    if (!published_) ::unlink(temp_path_.c_str());
  }
  StagedFile(const StagedFile&) = delete;
  StagedFile& operator=(const StagedFile&) = delete;

  // Safe to call from several threads at once on different files.
  arrow::Status Sync() {
    if (::fsync(fd_.get()) != 0) return ErrnoStatus("sync", temp_path_);
    return arrow::Status::OK();
  }
  // Closes the file and renames it to its final name; durable only once its directory is synced.
  arrow::Status Publish() {
    if (fd_.Close() != 0) return ErrnoStatus("close", temp_path_);
    if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) return ErrnoStatus("rename into place", final_path_);
    published_ = true;
    return arrow::Status::OK();
  }
  // Closes the file and links it under `target` unless a file of that name exists (false then).
  // The temp name is removed either way, by the destructor.
  arrow::Result<bool> LinkAs(const std::string& target) {
    if (fd_.Close() != 0) return ErrnoStatus("close", temp_path_);
    if (::link(temp_path_.c_str(), target.c_str()) != 0) {
      if (errno == EEXIST) return false;
      return ErrnoStatus("link into place", target);
    }
    return true;
  }
  const std::string& directory() const { return directory_; }

 private:
  StagedFile(const std::string& directory, const std::string& file_name)
      : directory_(directory),
        temp_path_((fs::path(directory) / TempFileName(file_name)).string()),
        final_path_((fs::path(directory) / file_name).string()) {}

  std::string directory_;
  std::string temp_path_;
  std::string final_path_;
  FileDescriptor fd_;
  bool published_ = false;
};

// A temp name no other writer uses at the same time: two processes racing for one exclusive name
// must not write into each other's temp file.
std::string UniqueTempName(const std::string& file_name) {
  static std::atomic<uint64_t> sequence{0};
  return file_name + "." + std::to_string(::getpid()) + "-" + std::to_string(sequence++);
}

std::chrono::system_clock::time_point ModifiedTime(const struct stat& info) {
  return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::seconds(info.st_mtim.tv_sec) + std::chrono::nanoseconds(info.st_mtim.tv_nsec)));
}

class LocalDatasetStore final : public DatasetStore {
 public:
  explicit LocalDatasetStore(std::string root)
      : root_(std::move(root)), filesystem_(std::make_shared<arrow::fs::LocalFileSystem>()) {}

  std::string Describe() const override { return root_; }
  std::shared_ptr<arrow::fs::FileSystem> filesystem() const override { return filesystem_; }
  // Absolute and without a trailing '/', so that readers' paths relative to it come out clean.
  std::string root() const override {
    std::error_code error;
    const fs::path absolute = fs::absolute(root_, error).lexically_normal();
    if (error) return root_;
    return (absolute.has_filename() ? absolute : absolute.parent_path()).string();
  }

  arrow::Result<std::vector<StoredFile>> List() override {
    std::vector<StoredFile> files;
    ARROW_RETURN_NOT_OK(ListDirectory(root_, "", &files));
    return files;
  }

  arrow::Status Publish(const std::vector<std::vector<NewFile>>& generations) override {
    std::set<std::string> paths;
    for (const auto& generation : generations) {
      for (const NewFile& file : generation) paths.insert(file.path);
    }
    ARROW_ASSIGN_OR_RAISE(const auto locks, LockDirectoriesOf(paths));
    std::vector<std::vector<std::unique_ptr<StagedFile>>> staged(generations.size());
    std::vector<StagedFile*> all;
    std::set<std::string> ensured;
    for (size_t g = 0; g < generations.size(); ++g) {
      for (const NewFile& file : generations[g]) {
        const fs::path path = fs::path(root_) / file.path;
        const std::string directory = path.parent_path().string();
        if (ensured.insert(directory).second) ARROW_RETURN_NOT_OK(EnsureDirectory(directory));
        ARROW_ASSIGN_OR_RAISE(auto staged_file,
                              StagedFile::Create(directory, path.filename().string(), *file.contents));
        all.push_back(staged_file.get());
        staged[g].push_back(std::move(staged_file));
      }
    }
    CrashPoint("after-temp-write");
    ARROW_RETURN_NOT_OK(RunConcurrently(all.size(), kMaxSyncThreads, [&all](size_t i) { return all[i]->Sync(); }));
    CrashPoint("after-fsync");
    for (auto& generation : staged) {
      std::set<std::string> directories;
      for (auto& file : generation) {
        ARROW_RETURN_NOT_OK(file->Publish());
        CrashPoint("after-rename");
        directories.insert(file->directory());
      }
      const std::vector<std::string> to_sync(directories.begin(), directories.end());
      ARROW_RETURN_NOT_OK(RunConcurrently(to_sync.size(), kMaxSyncThreads,
                                          [&to_sync](size_t i) { return SyncDirectory(to_sync[i]); }));
      CrashPoint("after-directory-sync");
    }
    return arrow::Status::OK();
  }

  arrow::Status Remove(const std::string& path) override {
    ARROW_ASSIGN_OR_RAISE(const auto locks, LockDirectoriesOf({path}));
    const fs::path full = fs::path(root_) / path;
    std::error_code error;
    if (!fs::remove(full, error) && error) {
      return arrow::Status::IOError("cannot remove ", full.string(), ": ", error.message());
    }
    return arrow::Status::OK();
  }

  arrow::Result<bool> CreateExclusive(const NewFile& file) override {
    const fs::path path = fs::path(root_) / file.path;
    const std::string directory = path.parent_path().string();
    ARROW_RETURN_NOT_OK(EnsureDirectory(directory));
    // Written whole under a name of its own first: a reader listing the directory must never see
    // a half-written file under the final name, which an O_EXCL create in place would show.
    ARROW_ASSIGN_OR_RAISE(auto staged, StagedFile::Create(directory, UniqueTempName(path.filename().string()),
                                                          *file.contents));
    ARROW_RETURN_NOT_OK(staged->Sync());
    // link() fails with EEXIST instead of replacing, unlike rename(): the put-if-absent.
    ARROW_ASSIGN_OR_RAISE(const bool created, staged->LinkAs(path.string()));
    if (!created) return false;
    ARROW_RETURN_NOT_OK(SyncDirectory(directory));
    return true;
  }

  arrow::Status EnsureRoot() { return EnsureDirectory(root_); }

 private:
  // Shared locks on the event_date directories the paths are in (or on the root), so `clickstream
  // compact` never swaps a directory away while a file is written, renamed or removed in it.
  arrow::Result<std::vector<std::unique_ptr<DirectoryLock>>> LockDirectoriesOf(const std::set<std::string>& paths) {
    std::set<std::string> directories;
    for (const std::string& path : paths) {
      const size_t slash = path.find('/');
      directories.insert(slash == std::string::npos ? kRootLockName : path.substr(0, slash));
    }
    std::vector<std::unique_ptr<DirectoryLock>> locks;
    for (const std::string& directory : directories) {
      ARROW_ASSIGN_OR_RAISE(auto lock, DirectoryLock::Acquire(root_, directory, DirectoryLock::Mode::kShared));
      locks.push_back(std::move(lock));
    }
    return locks;
  }

  arrow::Status ListDirectory(const fs::path& directory, const std::string& prefix, std::vector<StoredFile>* out) {
    std::error_code error;
    fs::directory_iterator it(directory, error);
    if (error) return arrow::Status::IOError("cannot read directory ", directory.string(), ": ", error.message());
    for (; it != fs::directory_iterator(); it.increment(error)) {
      if (error) return arrow::Status::IOError("cannot read ", directory.string(), ": ", error.message());
      const std::string name = it->path().filename().string();
      std::error_code kind_error;
      if (it->is_directory(kind_error)) {
        if (prefix.empty() && IsEventDateDirectory(name)) {
          ARROW_RETURN_NOT_OK(ListDirectory(it->path(), name + "/", out));
        }
        continue;
      }
      struct stat info {};
      if (::stat(it->path().c_str(), &info) != 0) continue;  // removed meanwhile
      out->push_back(StoredFile{prefix + name, static_cast<int64_t>(info.st_size), ModifiedTime(info)});
    }
    return arrow::Status::OK();
  }

  std::string root_;
  std::shared_ptr<arrow::fs::FileSystem> filesystem_;
};

}  // namespace

arrow::Result<std::unique_ptr<DatasetStore>> OpenLocalDatasetStore(const std::string& directory,
                                                                   MissingDirectory missing) {
  auto store = std::make_unique<LocalDatasetStore>(directory);
  if (missing == MissingDirectory::kLeave) return store;
  const arrow::Status ready = store->EnsureRoot();
  if (!ready.ok()) return arrow::Status::Invalid("output ", directory, ": ", ready.message());
  return store;
}

}  // namespace clickstream::sink
