// The producer's read-ahead thread: CSV text -> Kafka-ready keys and JSON values in blocks
// (BlockEncoder: CsvReader + EventSource + AppendEventJson), the whole corpus per iteration. The
// encoding runs on the encoder's own thread, so the figure is wall time (UseRealTime): the rate at
// which the sending thread could be fed.
#include <cstdio>
#include <memory>

#include <benchmark/benchmark.h>

#include "corpus.h"
#include "produce/block_encoder.h"
#include "source/event_source.h"

namespace clickstream::bench {
namespace {

void BM_CsvToMessages(benchmark::State& state) {
  const Corpus& corpus = SharedCorpus();
  std::FILE* stream = OpenCsv(corpus.csv);
  for (auto _ : state) {
    std::unique_ptr<source::EventSource> source = RewoundSource(state, stream);
    if (!source) break;
    size_t rows = 0;
    {
      produce::BlockEncoder encoder(source.get());
      while (std::unique_ptr<produce::EncodedBlock> block = encoder.Next()) {
        rows += block->rows.size();
        encoder.Recycle(std::move(block));
      }
    }
    if (rows != corpus.csv_rows) state.SkipWithError("the encoder lost rows");
  }
  std::fclose(stream);
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(corpus.csv_rows));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(corpus.csv.size()));
}
BENCHMARK(BM_CsvToMessages)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace clickstream::bench
