// The sink's encoding of one landed batch into Parquet bytes (zstd, per-column encodings), for the
// consumer's default batch (500 rows) and a large one (100,000, --batch-size 100000).
#include <benchmark/benchmark.h>

#include "corpus.h"
#include "event/landed_schema.h"
#include "sink/parquet/parquet_dataset.h"

namespace clickstream::bench {
namespace {

std::shared_ptr<arrow::RecordBatch> LandedRows(int64_t rows) {
  const Corpus& corpus = SharedCorpus();
  LandedBatchBuilder builder(DateColumn::kInPath);
  for (int64_t i = 0; i < rows; ++i) {
    const Event& event = corpus.events[static_cast<size_t>(i) % corpus.events.size()];
    const arrow::Status status = builder.Append(event, LandingInfo{3, i, 1'700'000'000'000'000 + i * 10});
    if (!status.ok()) return nullptr;
  }
  auto batch = builder.Finish();
  return batch.ok() ? *batch : nullptr;
}

void BM_EncodeParquet(benchmark::State& state) {
  const std::shared_ptr<arrow::RecordBatch> batch = LandedRows(state.range(0));
  if (batch == nullptr) {
    state.SkipWithError("cannot build the batch");
    return;
  }
  int64_t bytes = 0;
  for (auto _ : state) {
    auto encoded = sink::EncodeParquet(batch, arrow::key_value_metadata({"bench"}, {"1"}));
    if (!encoded.ok()) {
      state.SkipWithError(encoded.status().ToString().c_str());
      break;
    }
    bytes = (*encoded)->size();
  }
  state.SetItemsProcessed(state.iterations() * batch->num_rows());
  state.counters["file_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_EncodeParquet)->Arg(500)->Arg(100'000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace clickstream::bench
