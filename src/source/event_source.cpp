#include "source/event_source.h"

#include <array>
#include <bit>
#include <charconv>
#include <cstring>

#include "event/timestamp.h"

namespace clickstream::source {

namespace {

// murmur3's 64-bit finaliser: a bijection that spreads every input bit over the output.
uint64_t Mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

// The 1 to 7 bytes at p as memcpy into a zeroed word would give them on a little-endian machine,
// from at most three fixed-size loads (two overlapping ones when there are 4 or more bytes): a
// variable-length memcpy is a library call, and most fields end in such a tail.
uint64_t LoadTail(const char* p, size_t size) {
  static_assert(std::endian::native == std::endian::little, "event ids read words little-endian");
  if (size >= 4) {
    uint32_t low;
    uint32_t high;
    std::memcpy(&low, p, 4);
    std::memcpy(&high, p + size - 4, 4);
    return low | (static_cast<uint64_t>(high) << (8 * (size - 4)));
  }
  const auto byte = [p](size_t i) { return static_cast<uint64_t>(static_cast<unsigned char>(p[i])); };
  return byte(0) | (byte(size / 2) << (8 * (size / 2))) | (byte(size - 1) << (8 * (size - 1)));
}

// "00" to "ff": the hex digits of every byte value.
constexpr std::array<std::array<char, 2>, 256> kHexPairs = [] {
  constexpr char kHex[] = "0123456789abcdef";
  std::array<std::array<char, 2>, 256> pairs{};
  for (int b = 0; b < 256; ++b) pairs[b] = {kHex[b >> 4], kHex[b & 0xF]};
  return pairs;
}();

// Two independent 64-bit lanes (different seeds and multipliers) fed in one pass: 128 bits, so a
// collision among even billions of rows is out of reach.
class RowHasher {
 public:
  void AddWord(uint64_t word) {
    high_ = Mix((high_ ^ word) * 0x100000001b3ULL);
    low_ = Mix((low_ ^ word) * 0xa0761d6478bd642fULL);
  }

  // Length first, so ("ab","c") and ("a","bc") differ.
  void AddText(std::string_view text) {
    AddWord(text.size());
    size_t i = 0;
    for (; i + 8 <= text.size(); i += 8) {
      uint64_t word;
      std::memcpy(&word, text.data() + i, 8);
      AddWord(word);
    }
    if (i < text.size()) AddWord(LoadTail(text.data() + i, text.size() - i));
  }

  // 32 lower-case hex digits.
  void Format(char* out) const {
    const uint64_t halves[2] = {Mix(high_), Mix(low_)};
    for (int half = 0; half < 2; ++half) {
      for (int i = 0; i < 8; ++i) {
        const char* pair = kHexPairs[(halves[half] >> (56 - 8 * i)) & 0xFF].data();
        out[half * 16 + 2 * i] = pair[0];
        out[half * 16 + 2 * i + 1] = pair[1];
      }
    }
  }

 private:
  uint64_t high_ = 0x9e3779b97f4a7c15ULL;
  uint64_t low_ = 0xd6e8feb86659fd93ULL;
};

std::string LowerTrimmed(std::string_view text) {
  std::string lowered(TrimBlanks(text));
  for (char& c : lowered) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lowered;
}

std::string DescribeHeader(const std::vector<std::string_view>& fields) {
  std::string text;
  for (size_t i = 0; i < fields.size() && text.size() < 200; ++i) {
    if (i > 0) text += ',';
    text += IsValidUtf8(fields[i]) ? std::string(fields[i]) : std::string("?");
  }
  return text;
}

}  // namespace

std::string_view CsvLayoutName(CsvLayout layout) {
  return layout == CsvLayout::kGenerator ? "generator" : "RetailRocket";
}

void FormatEventId(int64_t line, const std::vector<std::string_view>& fields, char* out) {
  RowHasher hasher;
  hasher.AddWord(static_cast<uint64_t>(line));
  for (std::string_view field : fields) hasher.AddText(field);
  hasher.Format(out);
}

std::string MakeEventId(int64_t line, const std::vector<std::string_view>& fields) {
  std::string id(kEventIdChars, '\0');
  FormatEventId(line, fields, id.data());
  return id;
}

EventSource::EventSource(std::unique_ptr<CsvReader> reader, CsvLayout layout, Columns columns, size_t column_count)
    : reader_(std::move(reader)), layout_(layout), columns_(columns), column_count_(column_count) {}

arrow::Result<std::unique_ptr<EventSource>> EventSource::Open(const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(auto reader, CsvReader::Open(path));
  return FromReader(std::move(reader));
}

arrow::Result<std::unique_ptr<EventSource>> EventSource::FromReader(std::unique_ptr<CsvReader> reader) {
  CsvRecord header;
  ARROW_ASSIGN_OR_RAISE(bool has_header, reader->Next(&header));
  if (!has_header) return arrow::Status::Invalid("the input is empty (expected a CSV header)");
  if (!header.error.empty()) return arrow::Status::Invalid("header on line ", header.line, ": ", header.error);

  Columns columns;
  bool retail_rocket_names = false;
  for (size_t i = 0; i < header.fields.size(); ++i) {
    const std::string name = LowerTrimmed(header.fields[i]);
    const int index = static_cast<int>(i);
    if (name == "timestamp") columns.timestamp = index;
    if (name == "visitor_id") columns.visitor_id = index;
    if (name == "event_type") columns.event_type = index;
    if (name == "item_id") columns.item_id = index;
    if (name == "transaction_id") columns.transaction_id = index;
    if (name == "device") columns.device = index;
    if (name == "browser") columns.browser = index;
    if (name == "os") columns.os = index;
    if (name == "visitorid") columns.visitor_id = index, retail_rocket_names = true;
    if (name == "event") columns.event_type = index, retail_rocket_names = true;
    if (name == "itemid") columns.item_id = index, retail_rocket_names = true;
    if (name == "transactionid") columns.transaction_id = index, retail_rocket_names = true;
  }
  if (columns.timestamp < 0 || columns.visitor_id < 0 || columns.event_type < 0 || columns.item_id < 0 ||
      columns.transaction_id < 0) {
    return arrow::Status::Invalid(
        "unrecognised CSV header '", DescribeHeader(header.fields),
        "': expected timestamp,visitor_id,event_type,item_id,transaction_id,device,browser,os "
        "or RetailRocket's timestamp,visitorid,event,itemid,transactionid");
  }
  const CsvLayout layout = retail_rocket_names ? CsvLayout::kRetailRocket : CsvLayout::kGenerator;
  return std::unique_ptr<EventSource>(new EventSource(std::move(reader), layout, columns, header.fields.size()));
}

arrow::Result<bool> EventSource::Next(Event* event, SourceRow* row) {
  ARROW_ASSIGN_OR_RAISE(bool more, reader_->Next(&record_));
  if (!more) return false;
  row->line = record_.line;
  const arrow::Status status = ToEvent(record_, event, row);
  if (status.ok()) {
    row->kind = SourceRow::Kind::kEvent;
    row->reason.clear();
  } else {
    row->kind = SourceRow::Kind::kRejected;
    row->reason = status.message();
  }
  return true;
}

arrow::Status EventSource::ToEvent(const CsvRecord& record, Event* event, SourceRow* row) {
  if (!record.error.empty()) return arrow::Status::Invalid(record.error);
  const auto& fields = record.fields;
  if (fields.size() != column_count_) {
    return arrow::Status::Invalid("expected ", column_count_, " fields, found ", fields.size());
  }
  const auto field = [&](int index) { return index < 0 ? std::string_view() : fields[index]; };
  FormatEventId(record.line, fields, event_id_);
  RawEvent raw;
  raw.event_id = std::string_view(event_id_, kEventIdChars);
  raw.visitor_id = field(columns_.visitor_id);
  raw.event_type = field(columns_.event_type);
  raw.item_id = field(columns_.item_id);
  raw.transaction_id = field(columns_.transaction_id);
  raw.device = field(columns_.device);
  raw.browser = field(columns_.browser);
  raw.os = field(columns_.os);
  raw.timestamp = field(columns_.timestamp);
  if (layout_ == CsvLayout::kRetailRocket) {
    const std::string_view millis_text = TrimBlanks(raw.timestamp);
    if (millis_text.empty()) return arrow::Status::Invalid("missing timestamp");
    int64_t millis = 0;
    const auto [end, error] = std::from_chars(millis_text.data(), millis_text.data() + millis_text.size(), millis);
    if (error != std::errc() || end != millis_text.data() + millis_text.size()) {
      const std::string shown = IsValidUtf8(millis_text) ? std::string(millis_text.substr(0, 40)) : "(invalid UTF-8)";
      return arrow::Status::Invalid("unparsable timestamp '", shown, "' (expected epoch milliseconds)");
    }
    FormatTimestamp(FloorDiv(millis, 1000), timestamp_text_);
    raw.timestamp = std::string_view(timestamp_text_, kTimestampChars);
    row->event_time_ms = millis;
  }
  ARROW_RETURN_NOT_OK(BuildEvent(raw, event));
  if (layout_ == CsvLayout::kGenerator) row->event_time_ms = event->timestamp * 1000;
  return arrow::Status::OK();
}

}  // namespace clickstream::source
