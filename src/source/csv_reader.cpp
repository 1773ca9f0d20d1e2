#include "source/csv_reader.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "event/event.h"

namespace clickstream::source {

namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

}  // namespace

CsvReader::CsvReader(std::FILE* stream, bool owns_stream, size_t buffer_bytes)
    : stream_(stream), owns_stream_(owns_stream), buffer_(buffer_bytes) {
  struct stat info;
  if (fstat(fileno(stream_), &info) == 0 && S_ISREG(info.st_mode)) size_bytes_ = info.st_size;
}

CsvReader::~CsvReader() {
  if (owns_stream_) std::fclose(stream_);
}

arrow::Result<std::unique_ptr<CsvReader>> CsvReader::Open(const std::string& path, size_t buffer_bytes) {
  if (path == "-") return FromStream(stdin, buffer_bytes);
  std::FILE* stream = std::fopen(path.c_str(), "rb");
  if (stream == nullptr) return arrow::Status::IOError("cannot open input ", path, ": ", std::strerror(errno));
  struct stat info;
  if (fstat(fileno(stream), &info) == 0 && S_ISDIR(info.st_mode)) {
    std::fclose(stream);
    return arrow::Status::IOError("cannot read input ", path, ": it is a directory");
  }
  return std::unique_ptr<CsvReader>(new CsvReader(stream, /*owns_stream=*/true, buffer_bytes));
}

std::unique_ptr<CsvReader> CsvReader::FromStream(std::FILE* stream, size_t buffer_bytes) {
  return std::unique_ptr<CsvReader>(new CsvReader(stream, /*owns_stream=*/false, buffer_bytes));
}

arrow::Result<bool> CsvReader::Refill() {
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (eof_ || end_ == buffer_.size()) return false;
  // read(2) rather than fread: a pipe delivers what it has instead of waiting for a full buffer.
  while (true) {
    const ssize_t count = ::read(fileno(stream_), buffer_.data() + end_, buffer_.size() - end_);
    if (count > 0) {
      end_ += static_cast<size_t>(count);
      return true;
    }
    if (count == 0) {
      eof_ = true;
      return false;
    }
    if (errno != EINTR) return arrow::Status::IOError("reading input: ", std::strerror(errno));
  }
}

arrow::Result<bool> CsvReader::Next(CsvRecord* record) {
  if (!started_) {
    started_ = true;
    while (!eof_ && end_ < kUtf8Bom.size()) ARROW_RETURN_NOT_OK(Refill());
    if (std::string_view(buffer_.data(), end_).starts_with(kUtf8Bom)) begin_ = kUtf8Bom.size();
    bytes_consumed_ = static_cast<int64_t>(begin_);
  }
  while (true) {
    if (begin_ < end_ && ParseRecord(record)) {
      const bool blank = record->error.empty() && record->fields.size() == 1 && record->fields[0].empty();
      if (!blank) return true;
      continue;
    }
    if (begin_ == end_ && eof_) return false;
    if (begin_ == 0 && end_ == buffer_.size()) {
      record->line = line_;
      record->fields.clear();
      record->known_valid_utf8 = false;
      record->error = "row longer than " + std::to_string(buffer_.size()) + " bytes (an unterminated quote?)";
      SkipOverlongRecord();
      return true;
    }
    ARROW_RETURN_NOT_OK(Refill());
  }
}

bool CsvReader::ParseRecord(CsvRecord* record) {
  const char* start = buffer_.data() + begin_;
  const size_t available = end_ - begin_;
  const auto* newline = static_cast<const char*>(std::memchr(start, '\n', available));
  if (newline == nullptr && !eof_) return false;
  const size_t length = newline != nullptr ? static_cast<size_t>(newline - start) : available;
  if (std::memchr(start, '"', length) != nullptr) return ParseQuoted(record, begin_);

  // Fast path: no quotes, so the record is this one line and fields are views into the buffer.
  std::string_view text(start, length);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  record->line = line_;
  record->error.clear();
  record->fields.clear();
  // One pass over the line instead of one per field in BuildEvent (a tenth of the CSV source's
  // instructions, callgrind).
  record->known_valid_utf8 = IsValidUtf8(text);
  while (true) {
    const size_t comma = text.find(',');
    record->fields.push_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  const size_t consumed = length + (newline != nullptr ? 1 : 0);
  begin_ += consumed;
  bytes_consumed_ += static_cast<int64_t>(consumed);
  ++line_;
  return true;
}

// The general case, character by character: quoted fields, "" escapes, newlines inside quotes.
bool CsvReader::ParseQuoted(CsvRecord* record, size_t start) {
  const char* data = buffer_.data();
  unquoted_.clear();
  field_ends_.clear();
  std::string error;
  int64_t newlines = 0;
  bool in_quotes = false;
  bool field_start = true;
  bool after_quote = false;
  size_t i = start;
  while (true) {
    if (i == end_) {
      if (!eof_) return false;  // the record continues beyond what has been read
      if (in_quotes && error.empty()) error = "unterminated quoted field";
      break;
    }
    const char c = data[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 == end_ && !eof_) return false;
        if (i + 1 < end_ && data[i + 1] == '"') {
          unquoted_.push_back('"');
          i += 2;
          continue;
        }
        in_quotes = false;
        after_quote = true;
      } else {
        if (c == '\n') ++newlines;
        unquoted_.push_back(c);
      }
      ++i;
      continue;
    }
    if (c == '\n') {
      ++i;
      break;
    }
    if (c == '\r') {
      if (i + 1 == end_ && !eof_) return false;
      if (i + 1 == end_ || data[i + 1] == '\n') {
        ++i;
        continue;
      }
    }
    if (c == ',') {
      field_ends_.push_back(unquoted_.size());
      field_start = true;
      after_quote = false;
    } else if (c == '"' && field_start) {
      in_quotes = true;
      field_start = false;
    } else {
      if (error.empty() && after_quote) error = "text after a closing quote in field " + std::to_string(field_ends_.size() + 1);
      if (error.empty() && c == '"') error = "quote inside unquoted field " + std::to_string(field_ends_.size() + 1);
      unquoted_.push_back(c);
      field_start = false;
    }
    ++i;
  }
  field_ends_.push_back(unquoted_.size());

  record->line = line_;
  record->error = std::move(error);
  record->fields.clear();
  record->known_valid_utf8 = false;  // unquoted fields lie side by side: each is checked on its own
  size_t field_begin = 0;
  for (const size_t field_end : field_ends_) {
    record->fields.emplace_back(unquoted_.data() + field_begin, field_end - field_begin);
    field_begin = field_end;
  }
  bytes_consumed_ += static_cast<int64_t>(i - start);
  begin_ = i;
  line_ += 1 + newlines;
  return true;
}

// After an overlong record, resynchronise at the next newline.
void CsvReader::SkipOverlongRecord() {
  while (true) {
    const char* start = buffer_.data() + begin_;
    const auto* newline = static_cast<const char*>(std::memchr(start, '\n', end_ - begin_));
    if (newline != nullptr) {
      const size_t consumed = static_cast<size_t>(newline - start) + 1;
      begin_ += consumed;
      bytes_consumed_ += static_cast<int64_t>(consumed);
      ++line_;
      return;
    }
    bytes_consumed_ += static_cast<int64_t>(end_ - begin_);
    begin_ = end_;
    auto more = Refill();
    if (!more.ok() || !*more) return;
  }
}

}  // namespace clickstream::source
