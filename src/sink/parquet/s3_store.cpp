#include "sink/parquet/s3_store.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string_view>
#include <thread>

#include <arrow/filesystem/s3fs.h>
#include <arrow/io/interfaces.h>
#include <arrow/util/uri.h>

#include "common/crash_point.h"
#include "sink/parquet/concurrency.h"
#include "sink/parquet/landed_files.h"
#include "sink/parquet/s3_conditional_put.h"

namespace clickstream::sink {

namespace afs = arrow::fs;

namespace {

// Uploads wait on the network, not the CPU: several in flight hide the round trips of small files.
constexpr size_t kMaxUploadThreads = 8;
// The request timeout is a stall detector (curl's "less than 1 byte/s for this long"), not a
// limit on a transfer's length. The landing pipeline retries mid-run failures for
// --write-retry-ms on top of a few quick SDK retries.
struct Patience {
  double connect_timeout_seconds;
  double request_timeout_seconds;
  int64_t max_retries;
};
constexpr Patience kLandingPatience{3, 20, 3};
// The start-up check must fail within seconds even on an endpoint that accepts connections and
// never answers: (1 + 1 retry) x 5 s at worst.
constexpr Patience kStartupPatience{2, 5, 1};
constexpr int64_t kFirstRetryDelayMs = 100;
// A conditional PUT is retried on its own after a 409 (another writer's conditional write of the
// same key in flight: the next try gets 412 or 200) or a transient failure; 1.5 s of back-off in all.
constexpr int kConditionalPutAttempts = 5;

// ---------------------------------------------------------------------------------------------
// The process-wide S3 subsystem

std::mutex& SubsystemMutex() {
  static std::mutex mutex;
  return mutex;
}

afs::S3LogLevel LogLevelFromEnvironment() {
  const char* value = std::getenv("CLICKSTREAM_S3_LOG");
  std::string level = value == nullptr ? "" : value;
  std::transform(level.begin(), level.end(), level.begin(), [](unsigned char c) { return std::tolower(c); });
  if (level == "fatal") return afs::S3LogLevel::Fatal;
  if (level == "error") return afs::S3LogLevel::Error;
  if (level == "warn") return afs::S3LogLevel::Warn;
  if (level == "info") return afs::S3LogLevel::Info;
  if (level == "debug") return afs::S3LogLevel::Debug;
  if (level == "trace") return afs::S3LogLevel::Trace;
  return afs::S3LogLevel::Off;
}

arrow::Status EnsureSubsystemInitialized() {
  std::lock_guard<std::mutex> lock(SubsystemMutex());
  if (afs::IsS3Initialized()) return arrow::Status::OK();
  if (afs::IsS3Finalized()) return arrow::Status::Invalid("the S3 subsystem was already shut down");
  afs::S3GlobalOptions options = afs::S3GlobalOptions::Defaults();
  options.log_level = LogLevelFromEnvironment();
  return afs::InitializeS3(options);
}

// A few quick retries of what the SDK deems transient (connection refused, 5xx, throttling);
// never a client error such as a rejected signature.
class BoundedRetryStrategy final : public afs::S3RetryStrategy {
 public:
  explicit BoundedRetryStrategy(int64_t max_retries) : max_retries_(max_retries) {}
  bool ShouldRetry(const AWSErrorDetail& error, int64_t attempted_retries) override {
    return error.should_retry && attempted_retries < max_retries_;
  }
  int64_t CalculateDelayBeforeNextRetry(const AWSErrorDetail& /*error*/, int64_t attempted_retries) override {
    return kFirstRetryDelayMs << std::min<int64_t>(attempted_retries, 4);
  }

 private:
  int64_t max_retries_;
};

afs::S3Options WithPatience(afs::S3Options options, const Patience& patience) {
  options.connect_timeout = patience.connect_timeout_seconds;
  options.request_timeout = patience.request_timeout_seconds;
  options.retry_strategy = std::make_shared<BoundedRetryStrategy>(patience.max_retries);
  return options;
}

// ---------------------------------------------------------------------------------------------
// Parsing s3://bucket/prefix

std::string OneLine(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  while (!text.empty() && (text.back() == ' ' || text.back() == '.')) text.pop_back();
  return text;
}

// s3://key:secret@bucket/x is accepted (Arrow reads the key pair from it) but never repeated.
std::string WithoutCredentials(const std::string& uri) {
  const size_t authority = uri.find("://");
  if (authority == std::string::npos) return uri;
  const size_t at = uri.find('@', authority + 3);
  if (at == std::string::npos || at > uri.find('/', authority + 3)) return uri;
  return uri.substr(0, authority + 3) + uri.substr(at + 1);
}

std::string EnvironmentValue(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

// AWS_ENDPOINT_URL[_S3]=http://host:port as the SDKs and the aws CLI read it, turned into the
// URI's own query options. Setting it in the URI also stops Arrow from asking AWS for the
// bucket's region, which a non-AWS endpoint cannot answer.
arrow::Result<std::string> WithEndpointFromEnvironment(const std::string& uri, const arrow::util::Uri& parsed) {
  ARROW_ASSIGN_OR_RAISE(const auto items, parsed.query_items());
  for (const auto& [key, value] : items) {
    if (key == "endpoint_override") return uri;
  }
  std::string endpoint = EnvironmentValue("AWS_ENDPOINT_URL_S3");
  if (endpoint.empty()) endpoint = EnvironmentValue("AWS_ENDPOINT_URL");
  if (endpoint.empty()) return uri;
  arrow::util::Uri endpoint_uri;
  if (!endpoint_uri.Parse(endpoint).ok() || endpoint_uri.host().empty()) {
    return arrow::Status::Invalid("AWS_ENDPOINT_URL '", endpoint, "' is not a URL like http://host:port");
  }
  std::string host_port = endpoint_uri.host();
  if (endpoint_uri.port() > 0) host_port += ":" + std::to_string(endpoint_uri.port());
  const bool has_query = uri.find('?') != std::string::npos;
  return uri + (has_query ? "&" : "?") + "endpoint_override=" + host_port + "&scheme=" + endpoint_uri.scheme();
}

// The region only matters to AWS itself (Arrow finds a bucket's region when no endpoint is given);
// left empty, the SDK would ask the EC2 metadata service for one, which takes seconds off EC2.
std::string DefaultRegion() {
  for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    std::string region = EnvironmentValue(name);
    if (!region.empty()) return region;
  }
  return "us-east-1";
}

struct S3Location {
  std::string description;  // s3://bucket/prefix, without credentials or options
  std::string endpoint;     // for messages: the endpoint override, or "AWS"
  std::string bucket;
  std::string root;  // bucket[/prefix], as Arrow's S3FileSystem names paths
  afs::S3Options options;
};

// Where the conditional PUTs go: the endpoint, region and addressing Arrow's S3 client uses for
// these options (virtual-host style on AWS itself or when forced, path style on an endpoint
// override), so they reach the objects Arrow lists and reads.
S3PutTarget ConditionalPutTarget(const S3Location& location) {
  S3PutTarget target;
  target.scheme = location.options.scheme;
  target.endpoint_override = location.options.endpoint_override;
  target.region = location.options.region;
  target.virtual_addressing = location.options.endpoint_override.empty() || location.options.force_virtual_addressing;
  target.bucket = location.bucket;
  return target;
}

arrow::Result<S3Location> ParseS3Location(const std::string& uri) {
  arrow::util::Uri parsed;
  if (!parsed.Parse(uri).ok()) return arrow::Status::Invalid(WithoutCredentials(uri), ": not a valid URI");
  S3Location location;
  location.bucket = parsed.host();
  if (location.bucket.empty()) {
    return arrow::Status::Invalid(WithoutCredentials(uri), ": no bucket (expected s3://bucket/prefix)");
  }
  std::string prefix = parsed.path();
  while (!prefix.empty() && prefix.front() == '/') prefix.erase(prefix.begin());
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  location.root = prefix.empty() ? location.bucket : location.bucket + "/" + prefix;
  location.description = "s3://" + location.root;

  const auto effective_uri = WithEndpointFromEnvironment(uri, parsed);
  if (!effective_uri.ok()) return arrow::Status::Invalid(location.description, ": ", effective_uri.status().message());
  auto options = afs::S3Options::FromUri(*effective_uri);
  if (!options.ok()) {
    return arrow::Status::Invalid(location.description, ": ", OneLine(options.status().message()));
  }
  location.options = *std::move(options);
  if (location.options.region.empty()) location.options.region = DefaultRegion();
  // Lets a small file go up as one PutObject at Close() instead of create/upload/complete.
  location.options.allow_delayed_open = true;
  location.endpoint = location.options.endpoint_override.empty()
                          ? "AWS"
                          : location.options.scheme + "://" + location.options.endpoint_override;
  return location;
}

// Why the bucket cannot be used, in words a user can act on, then the SDK's own account.
arrow::Status BucketUnusable(const S3Location& location, const arrow::Status& error) {
  const std::string detail = OneLine(error.message());
  std::string cause;
  // The network first: a refused connection to port 40375 also contains "403".
  if (detail.find("NETWORK_CONNECTION") != std::string::npos || detail.find("curlCode") != std::string::npos ||
      detail.find("connect") != std::string::npos) {
    cause = "cannot reach the endpoint " + location.endpoint;
  } else if (detail.find("ACCESS_DENIED") != std::string::npos ||
             detail.find("INVALID_ACCESS_KEY") != std::string::npos || detail.find("SIGNATURE") != std::string::npos ||
             detail.find("403") != std::string::npos) {
    cause = "access denied: the credentials were rejected or may not use bucket '" + location.bucket +
            "' (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)";
  } else {
    cause = "cannot use bucket '" + location.bucket + "' at " + location.endpoint;
  }
  return arrow::Status::Invalid(location.description, ": ", cause, " (", detail, ")");
}

arrow::Status CheckBucket(afs::S3FileSystem& filesystem, const S3Location& location) {
  auto info = filesystem.GetFileInfo(location.bucket);
  if (!info.ok()) return BucketUnusable(location, info.status());
  if (info->type() == afs::FileType::NotFound) {
    return arrow::Status::Invalid(location.description, ": bucket '", location.bucket, "' does not exist at ",
                                  location.endpoint, " (create it first, e.g. aws s3 mb s3://", location.bucket, ")");
  }
  return arrow::Status::OK();
}

// ---------------------------------------------------------------------------------------------
// The store

// One object on its way to its final key. Arrow's S3 output stream completes the upload when it
// is closed, and its destructor closes it: dropped after a failed write, it would complete a
// multipart upload with the parts that did arrive, a truncated object under a final name. So
// unless Close() succeeded, the upload is aborted, and no object appears.
class ObjectUpload {
 public:
  explicit ObjectUpload(std::shared_ptr<arrow::io::OutputStream> stream) : stream_(std::move(stream)) {}
  ~ObjectUpload() {
    if (!completed_) (void)stream_->Abort();
  }
  ObjectUpload(const ObjectUpload&) = delete;
  ObjectUpload& operator=(const ObjectUpload&) = delete;

  arrow::Status WriteAndComplete(const std::shared_ptr<arrow::Buffer>& contents) {
    ARROW_RETURN_NOT_OK(stream_->Write(contents));
    CrashPoint("before-upload-complete");
    ARROW_RETURN_NOT_OK(stream_->Close());
    completed_ = true;
    return arrow::Status::OK();
  }

 private:
  std::shared_ptr<arrow::io::OutputStream> stream_;
  bool completed_ = false;
};

std::chrono::system_clock::time_point ToSystemTime(afs::TimePoint when) {
  return std::chrono::time_point_cast<std::chrono::system_clock::duration>(when);
}

class S3DatasetStore final : public DatasetStore {
 public:
  S3DatasetStore(std::string description, std::string root, std::shared_ptr<afs::S3FileSystem> filesystem,
                 S3PutTarget commit_target)
      : description_(std::move(description)),
        root_(std::move(root)),
        filesystem_(std::move(filesystem)),
        commit_target_(std::move(commit_target)) {}

  std::string Describe() const override { return description_; }
  std::shared_ptr<afs::FileSystem> filesystem() const override { return filesystem_; }
  std::string root() const override { return root_; }

  // One paginated listing of everything under the prefix; only the root's own objects and those
  // of its event_date=* "directories" are the dataset's.
  arrow::Result<std::vector<StoredFile>> List() override {
    afs::FileSelector selector;
    selector.base_dir = root_;
    selector.recursive = true;
    selector.allow_not_found = true;
    ARROW_ASSIGN_OR_RAISE(const std::vector<afs::FileInfo> entries, filesystem_->GetFileInfo(selector));
    std::vector<StoredFile> files;
    for (const afs::FileInfo& entry : entries) {
      if (!entry.IsFile() || entry.path().size() <= root_.size() + 1) continue;
      std::string relative = entry.path().substr(root_.size() + 1);
      const size_t slash = relative.find('/');
      const bool in_root = slash == std::string::npos;
      const bool in_date_directory = !in_root && relative.find('/', slash + 1) == std::string::npos &&
                                     IsEventDateDirectory(std::string_view(relative).substr(0, slash));
      if (!in_root && !in_date_directory) continue;
      files.push_back(StoredFile{std::move(relative), entry.size(), ToSystemTime(entry.mtime())});
    }
    return files;
  }

  arrow::Status Publish(const std::vector<std::vector<NewFile>>& generations) override {
    for (const std::vector<NewFile>& generation : generations) {
      ARROW_RETURN_NOT_OK(RunConcurrently(generation.size(), kMaxUploadThreads, [this, &generation](size_t i) {
        ARROW_RETURN_NOT_OK(Upload(generation[i]));
        CrashPoint("after-upload");
        return arrow::Status::OK();
      }));
      CrashPoint("after-generation-upload");
    }
    return arrow::Status::OK();
  }

  // One PUT with If-None-Match: * (s3_conditional_put.h): 200 created, 412 taken. A try whose
  // answer was lost (a timeout after sending, a 5xx) may have created the object, so a later 412,
  // or running out of tries, is settled by reading the object back: it holds exactly these bytes
  // (a commit names this member's token and round) only if this writer created it.
  arrow::Result<bool> CreateExclusive(const NewFile& file) override {
    const std::string key = KeyOf(file.path).substr(commit_target_.bucket.size() + 1);
    bool may_be_ours = false;
    std::string cause;
    for (int attempt = 0; attempt < kConditionalPutAttempts; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(kFirstRetryDelayMs << (attempt - 1)));
      // Asked each time: temporary credentials (STS, instance roles) are refreshed by Arrow's provider.
      const afs::S3Options options = filesystem_->options();
      const S3Credentials credentials{options.GetAccessKey(), options.GetSecretKey(), options.GetSessionToken()};
      auto answer = PutIfAbsent(commit_target_, credentials, key, *file.contents);
      if (!answer.ok()) return answer.status();  // it names the object, the endpoint and the cause
      switch (answer->outcome) {
        case ConditionalPutOutcome::kCreated:
          return true;
        case ConditionalPutOutcome::kExists:
          return may_be_ours ? HoldsExactly(file) : false;
        case ConditionalPutOutcome::kConflict:
        case ConditionalPutOutcome::kTransient:
          may_be_ours = may_be_ours || answer->may_have_arrived;
          cause = answer->cause;
          break;
      }
    }
    if (may_be_ours) {
      ARROW_ASSIGN_OR_RAISE(const afs::FileInfo info, filesystem_->GetFileInfo(KeyOf(file.path)));
      if (info.type() != afs::FileType::NotFound) return HoldsExactly(file);
    }
    return arrow::Status::IOError("cannot commit s3://", KeyOf(file.path), " after ", kConditionalPutAttempts,
                                  " tries: ", cause);
  }

  arrow::Status Remove(const std::string& path) override {
    const std::string key = KeyOf(path);
    const arrow::Status deleted = filesystem_->DeleteFile(key);
    if (deleted.ok()) return deleted;
    // Arrow reports a key that is already gone as an error: look before calling it one.
    ARROW_ASSIGN_OR_RAISE(const afs::FileInfo info, filesystem_->GetFileInfo(key));
    if (info.type() == afs::FileType::NotFound) return arrow::Status::OK();
    return deleted;
  }

 private:
  std::string KeyOf(const std::string& path) const { return root_ + "/" + path; }

  arrow::Status Upload(const NewFile& file) {
    ARROW_ASSIGN_OR_RAISE(auto stream, filesystem_->OpenOutputStream(KeyOf(file.path), /*metadata=*/nullptr));
    ObjectUpload upload(std::move(stream));
    const arrow::Status status = upload.WriteAndComplete(file.contents);
    if (status.ok()) return status;
    return arrow::Status::IOError("cannot upload s3://", KeyOf(file.path), ": ", OneLine(status.message()));
  }

  arrow::Result<bool> HoldsExactly(const NewFile& file) {
    ARROW_ASSIGN_OR_RAISE(auto input, filesystem_->OpenInputFile(KeyOf(file.path)));
    ARROW_ASSIGN_OR_RAISE(const int64_t size, input->GetSize());
    ARROW_ASSIGN_OR_RAISE(const auto stored, input->ReadAt(0, size));
    return stored->Equals(*file.contents);
  }

  std::string description_;
  std::string root_;
  std::shared_ptr<afs::S3FileSystem> filesystem_;
  S3PutTarget commit_target_;
};

}  // namespace

arrow::Result<std::unique_ptr<DatasetStore>> OpenS3DatasetStore(const std::string& uri) {
  ARROW_RETURN_NOT_OK(EnsureSubsystemInitialized());
  ARROW_ASSIGN_OR_RAISE(S3Location location, ParseS3Location(uri));
  auto probe = afs::S3FileSystem::Make(WithPatience(location.options, kStartupPatience));
  if (!probe.ok()) return BucketUnusable(location, probe.status());
  ARROW_RETURN_NOT_OK(CheckBucket(**probe, location));
  auto filesystem = afs::S3FileSystem::Make(WithPatience(location.options, kLandingPatience));
  if (!filesystem.ok()) return BucketUnusable(location, filesystem.status());
  return std::make_unique<S3DatasetStore>(location.description, location.root, *std::move(filesystem),
                                          ConditionalPutTarget(location));
}

ObjectStoreSubsystem::~ObjectStoreSubsystem() {
  std::lock_guard<std::mutex> lock(SubsystemMutex());
  if (afs::IsS3Initialized()) (void)afs::FinalizeS3();
}

}  // namespace clickstream::sink
