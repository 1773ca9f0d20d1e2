// A streaming CSV record reader (RFC 4180 plus what real exports contain: CRLF, a UTF-8 BOM,
// quoted fields with "" escapes and embedded newlines, no final newline) in bounded memory.
//
// Why not arrow::csv::StreamingReader: its InvalidRow::number counts records, not lines (a quoted
// newline shifts every later number), rows that parse but fail validation get no line number at
// all, and column-count errors of a block are reported before the block's other rows. Every reject
// here must carry its exact line, in input order, so records are split here and judged one by one.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>

namespace clickstream::source {

struct CsvRecord {
  int64_t line = 0;                     // 1-based line on which the record starts
  std::vector<std::string_view> fields;  // unquoted; valid until the next Next()
  std::string error;                    // non-empty: the record is malformed (fields unusable)
  // The record's line was checked as UTF-8 at once and is valid, so every field is (they are cut
  // at ASCII commas); false when unknown.
  bool known_valid_utf8 = false;
};

class CsvReader {
 public:
  // A record longer than this is reported as malformed; it bounds the reader's memory.
  static constexpr size_t kDefaultBufferBytes = 1 << 20;

  // path "-" reads standard input. A missing or unreadable file is an IOError naming it.
  static arrow::Result<std::unique_ptr<CsvReader>> Open(const std::string& path,
                                                        size_t buffer_bytes = kDefaultBufferBytes);
  // Reads from an already open stream, which the reader does not close.
  static std::unique_ptr<CsvReader> FromStream(std::FILE* stream, size_t buffer_bytes = kDefaultBufferBytes);
  ~CsvReader();
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  // Fills the next record. Returns false at the end of input; an IOError if reading fails.
  // Blank lines are skipped.
  arrow::Result<bool> Next(CsvRecord* record);

  int64_t bytes_consumed() const { return bytes_consumed_; }
  // Size of the input when it is a regular file, else -1.
  int64_t size_bytes() const { return size_bytes_; }

 private:
  CsvReader(std::FILE* stream, bool owns_stream, size_t buffer_bytes);
  // Moves the unconsumed tail to the front and reads more. Returns false once nothing more came.
  arrow::Result<bool> Refill();
  // Parses one record starting at begin_; false when the buffer holds no complete record yet.
  bool ParseRecord(CsvRecord* record);
  struct LineShape {
    bool has_quote = false;
    bool ascii = true;
  };
  static LineShape SplitAtCommas(std::string_view text, std::vector<std::string_view>* fields);
  bool ParseQuoted(CsvRecord* record, size_t start);
  void SkipOverlongRecord();

  std::FILE* stream_;
  bool owns_stream_;
  std::vector<char> buffer_;
  size_t begin_ = 0;  // first unconsumed byte
  size_t end_ = 0;    // one past the last byte read
  bool eof_ = false;
  bool started_ = false;
  int64_t line_ = 1;
  int64_t bytes_consumed_ = 0;
  int64_t size_bytes_ = -1;
  std::string unquoted_;           // storage for fields that needed unquoting
  std::vector<size_t> field_ends_;  // offsets into unquoted_
};

}  // namespace clickstream::source
