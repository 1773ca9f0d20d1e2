#include "sink/parquet/dataset_store.h"

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

arrow::Result<std::unique_ptr<DatasetStore>> OpenDatasetStore(const std::string& location) {
  const std::string scheme = SchemeOf(location);
  if (scheme.empty()) return OpenLocalDatasetStore(location);
  if (scheme == "file") return OpenLocalDatasetStore(location.substr(std::string("file://").size()));
  return arrow::Status::Invalid("output ", location, ": unsupported scheme '", scheme,
                                "' (use a directory path or s3://bucket/prefix)");
}

}  // namespace clickstream::sink
