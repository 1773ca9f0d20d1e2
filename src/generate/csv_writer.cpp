#include "generate/csv_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include <sys/stat.h>

#include "event/fields.h"
#include "event/timestamp.h"
#include "generate/segments.h"

namespace clickstream::generate {

namespace {

constexpr size_t kBlockBytes = size_t{1} << 20;

char* WriteUnsigned(uint64_t value, char* out) {
  char digits[20];
  size_t count = 0;
  do {
    digits[count++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (count > 0) *out++ = digits[--count];
  return out;
}

char* WriteText(std::string_view text, char* out) {
  std::memcpy(out, text.data(), text.size());
  return out + text.size();
}

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

arrow::Status WriteBlock(const std::string& block, std::FILE* out) {
  if (!block.empty() && std::fwrite(block.data(), 1, block.size(), out) != block.size()) {
    return arrow::Status::IOError("cannot write the CSV: ", std::strerror(errno));
  }
  return arrow::Status::OK();
}

}  // namespace

void AppendCsvRow(const GeneratedEvent& event, std::string* out) {
  // Longest row: timestamp, three 20-digit numbers, the longest names; 256 bytes is ample.
  char row[256];
  char* cursor = row;
  FormatTimestamp(event.timestamp, cursor);
  cursor += kTimestampChars;
  *cursor++ = ',';
  cursor = WriteUnsigned(static_cast<uint64_t>(event.visitor_id), cursor);
  *cursor++ = ',';
  cursor = WriteText(EventTypeName(event.type), cursor);
  *cursor++ = ',';
  cursor = WriteUnsigned(static_cast<uint64_t>(event.item_id), cursor);
  *cursor++ = ',';
  if (event.transaction_id >= 0) cursor = WriteUnsigned(static_cast<uint64_t>(event.transaction_id), cursor);
  const Segment& segment = Segments()[event.segment];
  *cursor++ = ',';
  cursor = WriteText(segment.device, cursor);
  *cursor++ = ',';
  cursor = WriteText(segment.browser, cursor);
  *cursor++ = ',';
  cursor = WriteText(segment.os, cursor);
  *cursor++ = '\n';
  out->append(row, static_cast<size_t>(cursor - row));
}

arrow::Status WriteClickstreamCsv(const GenerateOptions& options, std::FILE* out) {
  std::string block;
  block.reserve(kBlockBytes + 256);
  block.append(GeneratorCsvHeader());
  block.push_back('\n');
  ClickstreamGenerator generator(options);
  std::vector<GeneratedEvent> batch;
  while (generator.NextBatch(&batch)) {
    for (const GeneratedEvent& event : batch) {
      AppendCsvRow(event, &block);
      if (block.size() >= kBlockBytes) {
        ARROW_RETURN_NOT_OK(WriteBlock(block, out));
        block.clear();
      }
    }
  }
  ARROW_RETURN_NOT_OK(WriteBlock(block, out));
  if (std::fflush(out) != 0) return arrow::Status::IOError("cannot write the CSV: ", std::strerror(errno));
  return arrow::Status::OK();
}

namespace {

// Pipes, /dev/null and other special files are written in place: renaming over them would
// replace the device or FIFO with a regular file.
arrow::Status WriteToSpecialFile(const GenerateOptions& options, const std::string& path) {
  FilePtr file(std::fopen(path.c_str(), "wb"));
  if (!file) return arrow::Status::IOError("cannot open ", path, ": ", std::strerror(errno));
  ARROW_RETURN_NOT_OK(WriteClickstreamCsv(options, file.get()));
  if (std::fclose(file.release()) != 0) {
    return arrow::Status::IOError("cannot write ", path, ": ", std::strerror(errno));
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Status WriteClickstreamCsv(const GenerateOptions& options, const std::string& path) {
  if (path == "-") return WriteClickstreamCsv(options, stdout);
  struct stat info;
  if (::stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode)) return WriteToSpecialFile(options, path);
  const std::string partial_path = path + ".partial";
  FilePtr file(std::fopen(partial_path.c_str(), "wb"));
  if (!file) return arrow::Status::IOError("cannot create ", partial_path, ": ", std::strerror(errno));
  arrow::Status status = WriteClickstreamCsv(options, file.get());
  // fclose reports the last buffered write's failure (a full disk), so it is checked, not left to
  // the deleter.
  if (std::fclose(file.release()) != 0 && status.ok()) {
    status = arrow::Status::IOError("cannot write ", partial_path, ": ", std::strerror(errno));
  }
  if (status.ok() && std::rename(partial_path.c_str(), path.c_str()) != 0) {
    status = arrow::Status::IOError("cannot rename ", partial_path, " to ", path, ": ", std::strerror(errno));
  }
  if (!status.ok()) std::remove(partial_path.c_str());
  return status;
}

}  // namespace clickstream::generate
