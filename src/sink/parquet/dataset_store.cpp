#include "sink/parquet/dataset_store.h"

#include "sink/parquet/s3_store.h"

namespace clickstream::sink {

std::string SchemeOf(const std::string& location) {
  const size_t colon = location.find("://");
  if (colon == std::string::npos || colon == 0) return "";
  for (size_t i = 0; i < colon; ++i) {
    const char c = location[i];
    const bool scheme_char = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
    if (!scheme_char) return "";
  }
  return location.substr(0, colon);
}

bool IsLocalPath(const std::string& location) {
  // "s3:bucket/x" is a mistyped URI far more often than a directory meant to be named "s3:…".
  return SchemeOf(location).empty() && !location.starts_with("s3:");
}

arrow::Result<std::unique_ptr<DatasetStore>> OpenDatasetStore(const std::string& location,
                                                              MissingDirectory missing) {
  const std::string scheme = SchemeOf(location);
  if (IsLocalPath(location)) return OpenLocalDatasetStore(location, missing);
  if (scheme.empty()) return arrow::Status::Invalid(location, ": did you mean s3://bucket/prefix?");
  if (scheme == "file") return OpenLocalDatasetStore(location.substr(std::string("file://").size()), missing);
  if (scheme == "s3") return OpenS3DatasetStore(location);
  // Arrow also has GCS and Azure file systems, but landing there is untested: refuse rather than
  // promise the exactly-once invariant on a store nobody ran the crash tests against.
  return arrow::Status::Invalid(location, ": unsupported scheme '", scheme,
                                "' (use a directory path or s3://bucket/prefix)");
}

}  // namespace clickstream::sink
