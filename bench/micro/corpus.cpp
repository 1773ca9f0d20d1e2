#include "corpus.h"

#include <cstdio>
#include <cstdlib>
#include <memory>

#include <sys/mman.h>
#include <unistd.h>

#include "event/json_codec.h"
#include "event/timestamp.h"
#include "generate/csv_writer.h"
#include "source/event_source.h"

namespace clickstream::bench {

namespace {

constexpr int64_t kCorpusEvents = 100'000;
constexpr int64_t kCorpusDays = 14;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "microbench: cannot build the corpus: %s\n", what.c_str());
  std::exit(2);
}

std::string GenerateCsv() {
  generate::GenerateOptions options;
  options.events = kCorpusEvents;
  options.days = kCorpusDays;
  options.start_day = *ParseDate("2015-07-20");
  options.bug_start_day = options.start_day + kCorpusDays / 2;
  char* text = nullptr;
  size_t size = 0;
  std::FILE* stream = open_memstream(&text, &size);
  if (stream == nullptr) Fail("open_memstream");
  const arrow::Status written = generate::WriteClickstreamCsv(options, stream);
  std::fclose(stream);
  std::string csv(text, size);
  std::free(text);
  if (!written.ok()) Fail(written.ToString());
  return csv;
}

Corpus Build() {
  Corpus corpus;
  corpus.csv = GenerateCsv();
  std::FILE* stream = OpenCsv(corpus.csv);
  auto source = source::EventSource::FromReader(source::CsvReader::FromStream(stream), kBenchSourceId);
  if (!source.ok()) Fail(source.status().ToString());
  Event event;
  source::SourceRow row;
  while (true) {
    auto more = (*source)->Next(&event, &row);
    if (!more.ok()) Fail(more.status().ToString());
    if (!*more) break;
    ++corpus.csv_rows;
    if (row.kind != source::SourceRow::Kind::kEvent) Fail("a generated row was rejected: " + row.reason);
    corpus.events.push_back(event);
    std::string message;
    AppendEventJson(event, &message);
    corpus.messages.push_back(std::move(message));
  }
  source->reset();
  std::fclose(stream);
  return corpus;
}

}  // namespace

std::FILE* OpenCsv(const std::string& csv) {
  const int fd = memfd_create("microbench-csv", 0);
  if (fd < 0) Fail("memfd_create");
  std::FILE* stream = fdopen(fd, "w+b");
  if (stream == nullptr || std::fwrite(csv.data(), 1, csv.size(), stream) != csv.size() || std::fflush(stream) != 0 ||
      lseek(fd, 0, SEEK_SET) != 0) {
    Fail("writing the in-memory CSV");
  }
  std::rewind(stream);
  return stream;
}

std::unique_ptr<source::EventSource> RewoundSource(benchmark::State& state, std::FILE* stream) {
  // Page cache only: the figure is the parser's, not the disk's.
  if (lseek(fileno(stream), 0, SEEK_SET) != 0) {
    state.SkipWithError("cannot rewind the CSV");
    return nullptr;
  }
  auto source = source::EventSource::FromReader(source::CsvReader::FromStream(stream), kBenchSourceId);
  if (!source.ok()) {
    state.SkipWithError(source.status().ToString().c_str());
    return nullptr;
  }
  return std::move(*source);
}

const Corpus& SharedCorpus() {
  static const Corpus corpus = Build();
  return corpus;
}

}  // namespace clickstream::bench
