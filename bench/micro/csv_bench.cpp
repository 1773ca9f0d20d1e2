// The producer's source: CSV text -> validated events (CsvReader + EventSource + BuildEvent), the
// whole generated corpus per iteration, read from an in-memory file so the disk stays out of it.
#include <cstdio>
#include <memory>

#include <benchmark/benchmark.h>

#include "corpus.h"
#include "source/event_source.h"

namespace clickstream::bench {
namespace {

void BM_CsvToEvents(benchmark::State& state) {
  const Corpus& corpus = SharedCorpus();
  std::FILE* stream = OpenCsv(corpus.csv);
  Event event;
  source::SourceRow row;
  for (auto _ : state) {
    std::unique_ptr<source::EventSource> source = RewoundSource(state, stream);
    if (!source) break;
    while (true) {
      auto more = source->Next(&event, &row);
      if (!more.ok()) state.SkipWithError(more.status().ToString().c_str());
      if (!more.ok() || !*more) break;
      benchmark::DoNotOptimize(event);
    }
    source.reset();
  }
  std::fclose(stream);
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(corpus.csv_rows));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(corpus.csv.size()));
}
BENCHMARK(BM_CsvToEvents)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace clickstream::bench
