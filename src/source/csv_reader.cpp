#include "source/csv_reader.h"

#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "event/event.h"

namespace clickstream::source {

namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighBits = 0x8080808080808080ULL;
constexpr uint64_t kLowBits = 0x7F7F7F7F7F7F7F7FULL;

// The high bit of exactly each zero byte of the word (no borrow runs from one byte into the next,
// so the bits give positions, not only a yes or no).
inline uint64_t ZeroBytes(uint64_t word) { return ~(((word & kLowBits) + kLowBits) | word | kLowBits); }

inline uint64_t BytesEqual(uint64_t word, char c) { return ZeroBytes(word ^ (kOnes * static_cast<uint8_t>(c))); }

}  // namespace

// One pass over the line, eight bytes at a time: cuts it at its commas and notes whether it holds a
// quote or any non-ASCII byte. Per-field searches cost a call each and a third of the reader's
// instructions (callgrind).
CsvReader::LineShape CsvReader::SplitAtCommas(std::string_view text, std::vector<std::string_view>* fields) {
  LineShape shape;
  const char* data = text.data();
  const size_t size = text.size();
  uint64_t quotes = 0;
  uint64_t high = 0;
  size_t field_begin = 0;
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, data + i, sizeof(word));
    quotes |= BytesEqual(word, '"');
    high |= word & kHighBits;
    // Little-endian: the lowest set bit is the first comma of the word.
    for (uint64_t commas = BytesEqual(word, ','); commas != 0; commas &= commas - 1) {
      const size_t comma = i + static_cast<size_t>(std::countr_zero(commas)) / 8;
      fields->emplace_back(data + field_begin, comma - field_begin);
      field_begin = comma + 1;
    }
  }
  for (; i < size; ++i) {
    const char c = data[i];
    if (c == ',') {
      fields->emplace_back(data + field_begin, i - field_begin);
      field_begin = i + 1;
    } else if (c == '"') {
      quotes = 1;
    } else if (static_cast<unsigned char>(c) >= 0x80) {
      high = 1;
    }
  }
  fields->emplace_back(data + field_begin, size - field_begin);
  shape.has_quote = quotes != 0;
  shape.ascii = high == 0;
  return shape;
}

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
  std::string_view text(start, length);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  record->line = line_;
  record->error.clear();
  record->fields.clear();
  const LineShape shape = SplitAtCommas(text, &record->fields);
  if (shape.has_quote) return ParseQuoted(record, begin_);
  // Fast path: no quotes, so the record is this one line and fields are views into the buffer.
  // The UTF-8 check runs once over the line instead of once per field in BuildEvent, and only
  // when the line is not plain ASCII.
  record->known_valid_utf8 = shape.ascii || IsValidUtf8(text);
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
