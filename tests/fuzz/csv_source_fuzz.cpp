// Target for the CSV source (source/): the record reader and both layouts, the generator's and
// RetailRocket's events.csv. The first input byte picks the layout's header to put in front (or
// none: the input brings its own) and the reader's buffer size, so records straddle refills and
// overrun the buffer; the rest is the file. Beyond surviving, each row must keep its promises:
// lines rise, an event survives the JSON wire, and the producer's normal-form shortcut writes the
// bytes that building the event and encoding it would.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include <sys/mman.h>
#include <unistd.h>

#include "event/fields.h"
#include "event/json_codec.h"
#include "fuzz_support.h"
#include "source/csv_reader.h"
#include "source/event_source.h"

namespace {

using namespace clickstream;

constexpr size_t kBufferBytes[] = {64, 512, 4096, 1 << 16};
constexpr int kMaxRows = 10000;

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

// The reader read(2)s the stream's descriptor, so the input must be a real file (fmemopen has no
// descriptor): an anonymous one in memory.
std::unique_ptr<std::FILE, FileCloser> MemoryFile(const std::string& bytes) {
  const int fd = memfd_create("csv_source_fuzz", 0);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  FUZZ_CHECK(::lseek(fd, 0, SEEK_SET) == 0);
  std::FILE* file = ::fdopen(fd, "r");
  FUZZ_CHECK(file != nullptr);
  return std::unique_ptr<std::FILE, FileCloser>(file);
}

std::string Input(uint8_t mode, std::string_view rest) {
  switch (mode & 3) {
    case 0: return GeneratorCsvHeader() + "\n" + std::string(rest);
    case 1: return RetailRocketCsvHeader() + "\n" + std::string(rest);
    default: return std::string(rest);
  }
}

// Offered every well-formed row; declines it always, so the row is also built the usual way.
bool CheckShortcut(const RawEvent& raw, Utf8Check utf8_check, int64_t* epoch_seconds) {
  std::string shortcut_json;
  int64_t shortcut_seconds = 0;
  if (!AppendNormalFormEventJson(raw, utf8_check, &shortcut_json, &shortcut_seconds)) return false;
  Event built;
  FUZZ_CHECK(BuildEvent(raw, &built).ok());
  FUZZ_CHECK(built.timestamp == shortcut_seconds);
  std::string built_json;
  AppendEventJson(built, &built_json);
  FUZZ_CHECK(built_json == shortcut_json);
  *epoch_seconds = shortcut_seconds;
  return false;
}

void CheckEvent(const Event& event, const source::SourceRow& row) {
  FUZZ_CHECK(event.source_line == row.line);
  FUZZ_CHECK(IsAcceptedEventTime(event.timestamp));
  FUZZ_CHECK((event.event_type == EventType::kTransaction) == !event.transaction_id.empty());
  static EventJsonDecoder decoder;
  std::string json;
  AppendEventJson(event, &json);
  Event decoded;
  FUZZ_CHECK(decoder.Decode(json, &decoded).ok());
  FUZZ_CHECK(fuzz::SameEvent(event, decoded));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string input = Input(data[0], std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  const auto file = MemoryFile(input);
  auto opened = source::EventSource::FromReader(
      source::CsvReader::FromStream(file.get(), kBufferBytes[(data[0] >> 2) & 3]), "fuzz-source");
  if (!opened.ok()) return 0;  // no known header: a clean refusal
  source::EventSource& events = **opened;

  Event event;
  source::SourceRow row;
  int64_t previous_line = 1;  // the header's
  for (int rows = 0; rows < kMaxRows; ++rows) {
    const arrow::Result<bool> more = events.Next(&event, &row, CheckShortcut);
    FUZZ_CHECK(more.ok());  // reading memory never fails
    if (!*more) break;
    FUZZ_CHECK(row.line > previous_line);
    previous_line = row.line;
    if (row.kind == source::SourceRow::Kind::kEvent) {
      CheckEvent(event, row);
    } else {
      FUZZ_CHECK(!row.reason.empty());
    }
  }
  return 0;
}
