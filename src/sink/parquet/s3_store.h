// The object-store DatasetStore: s3://bucket/prefix through Arrow's own S3FileSystem, so any
// S3-compatible service (AWS, MinIO, R2, Ceph) works with the AWS SDK Arrow ships.
//
// Invariant (the same as the local directory's, without a rename): an object appears whole under
// its final key when its upload completes, or not at all, and listings are strongly consistent.
// So each file is uploaded straight to its final name, a failed upload is aborted (no multipart
// upload is ever completed with a part missing), and generation g+1 starts uploading only once
// every object of generation g exists. Recovery lists the prefix and reads progress from the names.
#pragma once

#include <memory>
#include <string>

#include <arrow/result.h>

#include "sink/parquet/dataset_store.h"

namespace clickstream::sink {

// Opens s3://bucket/prefix[?endpoint_override=host:port&scheme=http&region=…]. Credentials come the
// standard AWS ways (AWS_ACCESS_KEY_ID…, AWS_PROFILE, ~/.aws); AWS_ENDPOINT_URL (or
// AWS_ENDPOINT_URL_S3) points at a non-AWS service when the URI does not. The bucket is checked at
// once: a missing bucket, rejected credentials or an unreachable endpoint is an Invalid status
// naming the URI and the cause, within seconds.
arrow::Result<std::unique_ptr<DatasetStore>> OpenS3DatasetStore(const std::string& uri);

// Arrow's S3 subsystem (the AWS SDK) is initialised by the first store opened and must be shut
// down exactly once, after every S3 call has finished and before static destructors run, or the
// process can crash at exit. main() owns one of these: its destructor finalises the subsystem if a
// store initialised it. The SDK's own logging stays off unless CLICKSTREAM_S3_LOG names a level
// (fatal, error, warn, info, debug, trace).
class ObjectStoreSubsystem {
 public:
  ObjectStoreSubsystem() = default;
  ~ObjectStoreSubsystem();
  ObjectStoreSubsystem(const ObjectStoreSubsystem&) = delete;
  ObjectStoreSubsystem& operator=(const ObjectStoreSubsystem&) = delete;
};

}  // namespace clickstream::sink
