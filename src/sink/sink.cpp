#include "sink/sink.h"

namespace clickstream::sink {

namespace {

constexpr char kFencedDetailType[] = "clickstream::sink::Fenced";

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

arrow::Status FencedError(const std::string& message) {
  return arrow::Status(arrow::StatusCode::IOError, message, std::make_shared<FencedDetail>());
}

bool IsFenced(const arrow::Status& status) {
  return status.detail() && std::string_view(status.detail()->type_id()) == kFencedDetailType;
}

}  // namespace clickstream::sink
