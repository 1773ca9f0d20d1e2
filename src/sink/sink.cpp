#include "sink/sink.h"

#include <cstdio>

#include "event/timestamp.h"

namespace clickstream::sink {

namespace {

constexpr char kFencedDetailType[] = "clickstream::sink::Fenced";

// Marks a status as fenced. Arrow's status codes are fixed, so the fact travels as a detail: it
// survives Status::WithMessage (the PostgreSQL sink scrubs its messages so), while the message
// stays free for people.
class FencedDetail : public arrow::StatusDetail {
 public:
  const char* type_id() const override { return kFencedDetailType; }
  std::string ToString() const override { return "fenced"; }
};

}  // namespace

int64_t PartitionBatchData::num_rows() const {
  int64_t rows = 0;
  for (const auto& [day, batch] : rows_by_day) rows += batch->num_rows();
  return rows;
}

std::string FormatWriteTime(std::chrono::system_clock::time_point when) {
  const int64_t millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
  const int64_t seconds = FloorDiv(millis, 1000);
  const int64_t days = FloorDiv(seconds, 86400);
  const int64_t second_of_day = seconds - days * 86400;
  const CivilDate date = CivilFromDays(days);
  char text[32];
  std::snprintf(text, sizeof(text), "%04d%02u%02u_%02d%02d%02d_%03d", date.year, date.month, date.day,
                static_cast<int>(second_of_day / 3600), static_cast<int>(second_of_day / 60 % 60),
                static_cast<int>(second_of_day % 60), static_cast<int>(millis - seconds * 1000));
  return text;
}

arrow::Status FencedError(const std::string& message) {
  return arrow::Status(arrow::StatusCode::Cancelled, message, std::make_shared<FencedDetail>());
}

bool IsFenced(const arrow::Status& status) {
  const auto& detail = status.detail();
  return detail != nullptr && std::string_view(detail->type_id()) == kFencedDetailType;
}

}  // namespace clickstream::sink
