// The data every micro-benchmark runs on: the generator's own clickstream (the default layout and
// segments, several days), as CSV text, as validated events and as the JSON messages `produce`
// sends. Built once per process, so each benchmark times only its own stage.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "event/event.h"
#include "source/event_source.h"

namespace clickstream::bench {

// A fingerprint as `produce` computes it (32 hex digits), for every event of the corpus.
inline constexpr char kBenchSourceId[] = "5d41402abc4b2a76b9719d911017c592";

struct Corpus {
  std::string csv;                    // header and rows, as `clickstream generate` writes them
  std::vector<Event> events;          // the rows after the CSV source, identity filled in
  std::vector<std::string> messages;  // each event's JSON, as on the topic
  size_t csv_rows = 0;
};

// 100,000 events over 14 days: enough rows for the dictionaries and dates to behave as on
// real data, small enough to build in about a second.
const Corpus& SharedCorpus();

// The CSV text as a stream at its start (CsvReader reads the descriptor with read(2), so this is
// an in-memory file rather than fmemopen). The caller closes it.
std::FILE* OpenCsv(const std::string& csv);

// A CSV source over `stream` from its start, for one iteration; null (and the benchmark marked
// as failed) when the stream cannot be rewound or the source cannot start.
std::unique_ptr<source::EventSource> RewoundSource(benchmark::State& state, std::FILE* stream);

}  // namespace clickstream::bench
