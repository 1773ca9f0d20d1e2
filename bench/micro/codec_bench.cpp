// The JSON codec on both sides of Kafka: the consumer's decode (message -> Event -> Arrow builders)
// and the producer's encode (Event -> message). items_per_second is events per second on one core.
#include <benchmark/benchmark.h>

#include "corpus.h"
#include "event/json_codec.h"
#include "event/landed_schema.h"

namespace clickstream::bench {
namespace {

// Decoding alone: parse, validate, normalise into a reused Event.
void BM_DecodeJson(benchmark::State& state) {
  const Corpus& corpus = SharedCorpus();
  EventJsonDecoder decoder;
  Event event;
  size_t next = 0;
  for (auto _ : state) {
    const arrow::Status status = decoder.Decode(corpus.messages[next], &event);
    if (!status.ok()) state.SkipWithError(status.ToString().c_str());
    benchmark::DoNotOptimize(event);
    if (++next == corpus.messages.size()) next = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeJson);

// The consumer's hot path, message to record batch: Decode, Append with the landing columns, and
// Finish every `batch` rows (the consumer's --batch-size; 500 is its default).
void BM_DecodeToBatch(benchmark::State& state) {
  const Corpus& corpus = SharedCorpus();
  const int64_t batch = state.range(0);
  EventJsonDecoder decoder;
  LandedBatchBuilder builder(DateColumn::kInPath);
  Event event;
  size_t next = 0;
  int64_t offset = 0;
  for (auto _ : state) {
    arrow::Status status = decoder.Decode(corpus.messages[next], &event);
    if (status.ok()) status = builder.Append(event, LandingInfo{3, offset, 1'700'000'000'000'000 + offset});
    if (status.ok() && builder.size() == batch) {
      auto rows = builder.Finish();
      status = rows.status();
      benchmark::DoNotOptimize(rows);
    }
    if (!status.ok()) state.SkipWithError(status.ToString().c_str());
    if (++next == corpus.messages.size()) next = 0;
    ++offset;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeToBatch)->Arg(500)->Arg(100'000);

// The producer's encode: one message per event into a reused buffer.
void BM_EncodeJson(benchmark::State& state) {
  const Corpus& corpus = SharedCorpus();
  std::string message;
  size_t next = 0;
  for (auto _ : state) {
    message.clear();
    AppendEventJson(corpus.events[next], &message);
    benchmark::DoNotOptimize(message.data());
    if (++next == corpus.events.size()) next = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeJson);

}  // namespace
}  // namespace clickstream::bench
