// The one S3 request Arrow's S3FileSystem cannot send: a PUT with `If-None-Match: *`, which
// creates an object only if its key is free (AWS S3 since 2024, MinIO, R2, moto). It is how a
// Delta table's commit on S3 is put-if-absent. The request is signed with libcurl's own SigV4;
// this file's .cpp is the only code that sees libcurl (CMakeLists.txt keeps its headers there).
#pragma once

#include <string>

#include <arrow/buffer.h>
#include <arrow/result.h>

namespace clickstream::sink {

// Where the object goes, as Arrow's S3Options resolved it (s3_store.cpp fills this in from them).
struct S3PutTarget {
  std::string scheme = "https";   // "https" or "http"
  std::string endpoint_override;  // host[:port] of a non-AWS service; empty for AWS itself
  std::string region;
  bool virtual_addressing = false;  // bucket.host/key rather than host/bucket/key
  std::string bucket;
};

struct S3Credentials {
  std::string access_key;  // empty: an anonymous, unsigned request
  std::string secret_key;
  std::string session_token;  // temporary credentials (STS, SSO, instance roles) only
};

// What the store answered. Anything else (403, 404, another 4xx) is an error Status.
enum class ConditionalPutOutcome {
  kCreated,   // 200: the object is there, whole, with these bytes
  kExists,    // 412 Precondition Failed: the key was taken, by this or another writer
  kConflict,  // 409 ConditionalRequestConflict: another conditional write of the key is in flight
  kTransient  // 5xx, throttling, or the connection failed: worth another try
};

struct ConditionalPutAnswer {
  ConditionalPutOutcome outcome = ConditionalPutOutcome::kTransient;
  // For kTransient: whether the request may have reached the store (a timeout after sending, a
  // 5xx): then the object may exist with these bytes. False when no connection was made.
  bool may_have_arrived = false;
  std::string cause;  // for kConflict and kTransient, one line for the final error message
};

// Sends one PUT of `body` to `key` (under target.bucket) with `If-None-Match: *`. Fails within
// seconds on an endpoint that does not answer: connect timeout, then a stall detector.
arrow::Result<ConditionalPutAnswer> PutIfAbsent(const S3PutTarget& target, const S3Credentials& credentials,
                                                const std::string& key, const arrow::Buffer& body);

}  // namespace clickstream::sink
