#include "sink/postgres/copy_binary.h"

#include <cstring>
#include <string_view>

namespace clickstream::sink::postgres {

namespace {

constexpr char kSignature[] = "PGCOPY\n\377\r\n";  // 11 bytes with its terminating NUL

template <typename Int>
void AppendBigEndian(Int value, std::string* out) {
  using Unsigned = std::make_unsigned_t<Int>;
  const auto bits = static_cast<Unsigned>(value);
  for (int shift = static_cast<int>(sizeof(Int) * 8) - 8; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((bits >> shift) & 0xff));
  }
}

void AppendText(std::string_view text, std::string* out) {
  AppendBigEndian<int32_t>(static_cast<int32_t>(text.size()), out);
  out->append(text);
}

// Writes the non-null value of one cell, with its length.
class CellWriter {
 public:
  CellWriter(PgType type, const arrow::Array& array) : type_(type), array_(array) {
    if (array.type_id() == arrow::Type::DICTIONARY) {
      dictionary_ = &static_cast<const arrow::DictionaryArray&>(array);
    }
  }

  void Append(int64_t row, std::string* out) const {
    switch (type_) {
      case PgType::kText: AppendText(TextAt(row), out); return;
      case PgType::kInteger:
        AppendBigEndian<int32_t>(4, out);
        AppendBigEndian(static_cast<const arrow::Int32Array&>(array_).Value(row), out);
        return;
      case PgType::kBigint:
        AppendBigEndian<int32_t>(8, out);
        AppendBigEndian(static_cast<const arrow::Int64Array&>(array_).Value(row), out);
        return;
      case PgType::kTimestamptz:
      case PgType::kTimestamp:
        AppendBigEndian<int32_t>(8, out);
        AppendBigEndian(static_cast<const arrow::TimestampArray&>(array_).Value(row) - kPgEpochMicros, out);
        return;
      case PgType::kDate:
        AppendBigEndian<int32_t>(4, out);
        AppendBigEndian(static_cast<int32_t>(static_cast<const arrow::Date32Array&>(array_).Value(row) - kPgEpochDays),
                        out);
        return;
    }
  }

 private:
  std::string_view TextAt(int64_t row) const {
    if (dictionary_ != nullptr) {
      const int64_t index = dictionary_->GetValueIndex(row);
      return ViewOf(*dictionary_->dictionary(), index);
    }
    return ViewOf(array_, row);
  }

  static std::string_view ViewOf(const arrow::Array& strings, int64_t index) {
    if (strings.type_id() == arrow::Type::LARGE_STRING) {
      return static_cast<const arrow::LargeStringArray&>(strings).GetView(index);
    }
    return static_cast<const arrow::StringArray&>(strings).GetView(index);
  }

  PgType type_;
  const arrow::Array& array_;
  const arrow::DictionaryArray* dictionary_ = nullptr;
};

}  // namespace

void AppendCopyHeader(std::string* out) {
  out->append(kSignature, sizeof(kSignature));  // the signature includes its NUL byte
  AppendBigEndian<int32_t>(0, out);             // flags: no OIDs
  AppendBigEndian<int32_t>(0, out);             // no header extension
}

void AppendCopyTrailer(std::string* out) { AppendBigEndian<int16_t>(-1, out); }

arrow::Status AppendCopyTuples(const arrow::RecordBatch& batch, const TableLayout& layout, std::string* out) {
  if (batch.num_columns() != static_cast<int>(layout.columns.size())) {
    return arrow::Status::Invalid("a batch of ", batch.num_columns(), " columns for a table layout of ",
                                  layout.columns.size());
  }
  std::vector<CellWriter> writers;
  for (int i = 0; i < batch.num_columns(); ++i) {
    ARROW_ASSIGN_OR_RAISE(PgColumn column, ColumnFor(*batch.schema()->field(i)));
    if (column.name != layout.columns[i].name || column.type != layout.columns[i].type) {
      return arrow::Status::Invalid("batch field ", batch.schema()->field(i)->ToString(), " does not match column \"",
                                    layout.columns[i].name, "\"");
    }
    writers.emplace_back(column.type, *batch.column(i));
  }
  const int16_t fields = static_cast<int16_t>(writers.size());
  for (int64_t row = 0; row < batch.num_rows(); ++row) {
    AppendBigEndian(fields, out);
    for (int i = 0; i < batch.num_columns(); ++i) {
      if (batch.column(i)->IsNull(row)) {
        AppendBigEndian<int32_t>(-1, out);
      } else {
        writers[i].Append(row, out);
      }
    }
  }
  return arrow::Status::OK();
}

}  // namespace clickstream::sink::postgres
