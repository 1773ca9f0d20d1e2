// The fingerprint of an input: a 128-bit hash of its bytes, written as 32 hex digits. It is the
// source_id of every event read from the input, so the same bytes replayed give the same identities
// and different bytes (a changed row, an appended row, another file) give different ones.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include <arrow/result.h>

namespace clickstream::source {

inline constexpr size_t kFingerprintChars = 32;

// Hashes the file's content.
arrow::Result<std::string> FingerprintFile(const std::string& path);

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

struct SpooledInput {
  FilePtr file;  // an unlinked temporary file holding the input, positioned at its start
  std::string fingerprint;
};

// Copies a stream that cannot be read twice (a pipe) into an unlinked temporary file while hashing
// it: the fingerprint must be known before the first event is sent, and a pipe ends only once.
arrow::Result<SpooledInput> SpoolAndFingerprint(std::FILE* stream);

}  // namespace clickstream::source
