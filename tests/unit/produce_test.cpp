#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>

#include "event/json_codec.h"
#include "produce/block_encoder.h"
#include "produce/pacer.h"
#include "produce/replay.h"
#include "result_assertions.h"
#include "temp_dir.h"

namespace clickstream::produce {
namespace {

using namespace std::chrono_literals;
using TimePoint = PacerClock::time_point;

const TimePoint kStart = TimePoint(100s);

double Seconds(PacerClock::duration duration) { return std::chrono::duration<double>(duration).count(); }

TEST(TokenBucket, SpacesEventsEvenlyAtTheRate) {
  TokenBucket bucket(2000, 1);
  // A sender that is always on time: event k is due exactly k/2000 s after the first.
  TimePoint now = kStart;
  for (int k = 0; k < 20000; ++k) {
    const TimePoint due = bucket.Reserve(now);
    EXPECT_GE(due, now);
    now = due;
  }
  EXPECT_NEAR(Seconds(now - kStart), 19999 / 2000.0, 1e-5);
}

TEST(TokenBucket, CatchesUpAtMostTheBurstAfterAStall) {
  TokenBucket bucket(1000, 10);
  EXPECT_EQ(bucket.Reserve(kStart), kStart);
  // The sender stalls for a whole second: only 10 tokens (the burst) are owed, then the steady
  // rate resumes from there instead of flooding the 1000 events of the missed second.
  const TimePoint late = kStart + 1s;
  int sent_at_once = 0;
  while (bucket.Reserve(late) <= late) ++sent_at_once;
  EXPECT_EQ(sent_at_once, 10);
  // The Reserve that ended the loop took the slot 1 ms ahead; the next one is 2 ms ahead.
  EXPECT_NEAR(Seconds(bucket.Reserve(late) - late), 0.002, 1e-6);
}

TEST(TokenBucket, RateHoldsOverEveryTenSecondWindowDespiteJitter) {
  TokenBucket bucket(1000, 10);
  TimePoint now = kStart;
  std::vector<TimePoint> sent;
  for (int k = 0; k < 30000; ++k) {
    const TimePoint due = bucket.Reserve(now);
    // The sender oversleeps by 0..180 us, and every 500th event stalls 5 ms (a slow poll), as
    // a busy machine would; the bucket absorbs both.
    now = std::max(now, due) + std::chrono::microseconds((k % 7) * 30) + (k % 500 == 0 ? 5ms : 0ms);
    sent.push_back(std::max(due, now));
  }
  for (size_t first = 0; first + 10000 < sent.size(); first += 1000) {
    const double window = Seconds(sent[first + 10000] - sent[first]);
    EXPECT_NEAR(10000 / window, 1000, 20) << "window starting at event " << first;
  }
}

TEST(SpeedSchedule, DividesTheOriginalGaps) {
  SpeedSchedule schedule(3600);
  EXPECT_EQ(schedule.Reserve(1'000'000, kStart), kStart);
  // One hour later in the data is one second later in the replay.
  EXPECT_NEAR(Seconds(schedule.Reserve(1'000'000 + 3'600'000, kStart) - kStart), 1.0, 1e-9);
  // An event older than the first goes at once.
  EXPECT_EQ(schedule.Reserve(999'000, kStart + 5s), kStart + 5s);
}

TEST(Pacer, ZeroRateIsUnthrottled) {
  Pacer pacer(PacingOptions{0, 0});
  for (int k = 0; k < 1000; ++k) EXPECT_EQ(pacer.Reserve(0, kStart), kStart);
}

TEST(Pacer, SpeedWinsOverRate) {
  Pacer pacer(PacingOptions{1, 10});
  EXPECT_EQ(pacer.Reserve(0, kStart), kStart);
  EXPECT_NEAR(Seconds(pacer.Reserve(1000, kStart) - kStart), 0.1, 1e-9);
  EXPECT_NEAR(Seconds(pacer.Reserve(1000, kStart) - kStart), 0.1, 1e-9);  // no rate limit on top
}

// The message value, byte for byte: escapes, nulls for empty optional fields, UTF-8 passed
// through, appended after whatever the buffer already holds.
TEST(MessageValue, IsCompactJsonWithEscapes) {
  Event event;
  event.source_id = "0123456789abcdef0123456789abcdef";
  event.source_line = 42;
  event.timestamp = 1430611215;
  event.visitor_id = "v\"1\\";
  event.event_type = EventType::kTransaction;
  event.item_id = "it\n\r\t\x01\x1f";
  event.transaction_id = "tx";
  event.browser = "Caf\xC3\xA9";
  std::string value = "prefix";
  AppendEventJson(event, &value);
  EXPECT_EQ(value,
            "prefix{\"source_id\":\"0123456789abcdef0123456789abcdef\",\"source_line\":42,"
            "\"timestamp\":\"2015-05-03 00:00:15\","
            "\"visitor_id\":\"v\\\"1\\\\\",\"event_type\":\"transaction\","
            "\"item_id\":\"it\\n\\r\\t\\u0001\\u001f\",\"transaction_id\":\"tx\",\"device\":null,"
            "\"browser\":\"Caf\xC3\xA9\",\"os\":null}");
}

// A generator-layout CSV of `rows` rows; every `bad_every`-th row has an unknown event type. Most
// rows are in normal form; every third needs normalising (an upper-case device, a blank around the
// item), so both of the encoder's paths run.
std::filesystem::path WriteCsv(const test_support::TempDir& dir, int rows, int bad_every) {
  const std::filesystem::path path = dir.path() / "events.csv";
  std::ofstream out(path);
  out << "timestamp,visitor_id,event_type,item_id,transaction_id,device,browser,os\n";
  for (int k = 1; k <= rows; ++k) {
    out << "2015-06-02 10:" << (10 + k / 60 % 50) << ":" << (10 + k % 50) << ",v" << k << ","
        << (k % bad_every == 0 ? "click" : "view") << (k % 3 == 1 ? ", i" : ",i") << k % 97 << ","
        << (k % 3 == 2 ? ",Mobile" : ",mobile") << ",Safari,iOS\n";
  }
  return path;
}

TEST(BlockEncoder, HandsOverEveryRowInOrderAcrossBlocks) {
  test_support::TempDir dir("block-encoder");
  const std::filesystem::path csv = WriteCsv(dir, 5000, 1000);
  ASSERT_OK_AND_ASSIGN(auto encoded_source, source::EventSource::Open(csv.string()));
  ASSERT_OK_AND_ASSIGN(auto expected_source, source::EventSource::Open(csv.string()));

  BlockEncoder encoder(encoded_source.get(), 2);
  Event expected;
  source::SourceRow expected_row;
  int blocks = 0;
  int64_t rows = 0;
  int64_t rejected = 0;
  int64_t bytes_consumed = 0;
  while (std::unique_ptr<EncodedBlock> block = encoder.Next()) {
    ++blocks;
    ASSERT_TRUE(block->input_error.ok());
    for (const EncodedRow& row : block->rows) {
      ASSERT_OK_AND_ASSIGN(const bool more, expected_source->Next(&expected, &expected_row));
      ASSERT_TRUE(more);
      ++rows;
      ASSERT_EQ(row.line, expected_row.line);
      ASSERT_EQ(row.input_end, expected_source->bytes_consumed());  // progress follows the rows sent
      if (expected_row.kind == source::SourceRow::Kind::kRejected) {
        ++rejected;
        ASSERT_EQ(row.kind, EncodedRow::Kind::kRejected);
        EXPECT_EQ(block->Text(row), expected_row.reason);
        continue;
      }
      ASSERT_EQ(row.kind, EncodedRow::Kind::kMessage);
      std::string json;
      AppendEventJson(expected, &json);
      EXPECT_EQ(block->Key(row), expected.visitor_id);
      EXPECT_EQ(block->Text(row), json);
      EXPECT_EQ(row.event_time_ms, expected_row.event_time_ms);
    }
    bytes_consumed = block->bytes_consumed;
    encoder.Recycle(std::move(block));
  }
  EXPECT_EQ(rows, 5000);
  EXPECT_EQ(rejected, 5);
  EXPECT_GE(blocks, 3);  // 2048 rows a block at most
  EXPECT_EQ(bytes_consumed, static_cast<int64_t>(std::filesystem::file_size(csv)));
  EXPECT_EQ(encoder.Next(), nullptr);  // and it stays at the end
}

// A sender that stops (a signal, --limit) leaves the encoder waiting for room in its queue:
// Stop() must wake it, and the read-ahead must have stayed within a few blocks.
TEST(BlockEncoder, StopWakesAnEncoderWaitingForRoomAndReadAheadIsBounded) {
  test_support::TempDir dir("block-encoder-stop");
  const std::filesystem::path csv = WriteCsv(dir, 50000, 100000);
  ASSERT_OK_AND_ASSIGN(auto source, source::EventSource::Open(csv.string()));
  {
    BlockEncoder encoder(source.get(), 1);
    std::unique_ptr<EncodedBlock> first = encoder.Next();
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(first->rows.size(), BlockEncoder::kBlockRows);
    encoder.Stop();
    EXPECT_EQ(encoder.Next(), nullptr);
  }  // joins the thread
  // One block taken, one queued, one being filled when it stopped.
  EXPECT_LE(source->bytes_consumed(), static_cast<int64_t>(std::filesystem::file_size(csv)) * 3 * 2048 / 50000 + 4096);
}

// A read error part-way through the input (here: the input's descriptor now names a directory)
// arrives after every row read before it, in a block of its own or with the last rows, and ends
// the hand-over.
TEST(BlockEncoder, AReadErrorFollowsTheRowsReadBeforeItAndEndsTheInput) {
  test_support::TempDir dir("block-encoder-error");
  const std::filesystem::path csv = WriteCsv(dir, 100000, 1000000);  // ~6 MB: several 1 MB reads
  std::FILE* stream = std::fopen(csv.c_str(), "rb");
  ASSERT_NE(stream, nullptr);
  ASSERT_OK_AND_ASSIGN(auto source, source::EventSource::FromReader(source::CsvReader::FromStream(stream), "id"));
  int64_t rows = 0;
  int64_t last_line = 0;
  std::string error;
  {
    BlockEncoder encoder(source.get(), 1);
    std::unique_ptr<EncodedBlock> block = encoder.Next();
    ASSERT_NE(block, nullptr);
    // The first 1 MB read holds ~17,000 rows; with one block queued the encoder stops long
    // before it needs the next read, which now fails.
    const int directory = open(dir.path().c_str(), O_RDONLY | O_DIRECTORY);
    ASSERT_GE(directory, 0);
    ASSERT_GE(dup2(directory, fileno(stream)), 0);
    close(directory);
    while (block) {
      rows += static_cast<int64_t>(block->rows.size());
      if (!block->rows.empty()) last_line = block->rows.back().line;
      if (!block->input_error.ok()) error = block->input_error.message();
      encoder.Recycle(std::move(block));
      block = encoder.Next();
    }
  }
  std::fclose(stream);
  EXPECT_NE(error.find("reading input"), std::string::npos) << error;
  EXPECT_GT(rows, 2 * static_cast<int64_t>(BlockEncoder::kBlockRows));
  EXPECT_LT(rows, 100000);
  EXPECT_EQ(last_line, rows + 1);  // no row lost or repeated before the error (the header is line 1)
}

// Reads the replay's log from a pipe until a line contains `text`; false after the deadline or
// when the log closed first.
bool WaitForLogLine(int fd, std::string_view text, std::chrono::seconds deadline) {
  const auto give_up = std::chrono::steady_clock::now() + deadline;
  std::string seen;
  char chunk[512];
  while (seen.find(text) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd ready{fd, POLLIN, 0};
    if (poll(&ready, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t got = read(fd, chunk, sizeof(chunk));
    if (got <= 0) return false;
    seen.append(chunk, static_cast<size_t>(got));
  }
  return true;
}

// SIGTERM with messages in flight to a broker that never answers: the replay gives up after its
// shutdown flush and counts every unconfirmed message as failed. Destroying the producer then
// purges those messages and serves their delivery reports, which write into the replay's state:
// that state must still be alive (under `make asan`, a member order that destroys it first is a
// use-after-free).
TEST(Replay, StopWithMessagesInFlightToAnUnreachableBrokerFailsThemCleanly) {
  const std::filesystem::path csv =
      std::filesystem::temp_directory_path() / ("clickstream_replay_test_" + std::to_string(getpid()) + ".csv");
  {
    std::ofstream out(csv);
    out << "timestamp,visitor_id,event_type,item_id,transaction_id,device,browser,os\n";
    for (int k = 0; k < 50; ++k) out << "2015-06-02 10:00:" << (10 + k) << ",v" << k << ",view,i1,,mobile,Safari,iOS\n";
  }
  ASSERT_OK_AND_ASSIGN(auto source, source::EventSource::Open(csv.string()));
  std::filesystem::remove(csv);
  kafka::KafkaOptions kafka_options;
  kafka_options.bootstrap_servers = "127.0.0.1:1";  // nothing listens on port 1: connections are refused
  kafka_options.properties = {"log_level=0"};         // the refused connections are expected
  ASSERT_OK_AND_ASSIGN(auto conf, kafka::MakeConf(kafka_options, ReplayProducerDefaults()));

  ReplayOptions options;
  options.topic = "replay-test";
  options.pacing.rate = 0;
  options.log_interval = std::chrono::milliseconds(1);
  options.shutdown_flush = std::chrono::milliseconds(100);
  int log_pipe[2];
  ASSERT_EQ(pipe(log_pipe), 0);
  std::FILE* log = fdopen(log_pipe[1], "w");
  ASSERT_NE(log, nullptr);

  // The signal arrives while the replay waits for delivery reports of all 50 events, as the
  // progress line it logs meanwhile shows.
  StopSignal stop;
  arrow::Result<ReplaySummary> summary;
  std::thread replay([&] { summary = Replay(source.get(), std::move(conf), options, stop, log, log); });
  const bool all_in_flight = WaitForLogLine(log_pipe[0], "sent 50 ", std::chrono::seconds(60));
  stop.signal_number.store(SIGTERM);
  stop.requested.store(true);
  replay.join();
  std::fclose(log);
  close(log_pipe[0]);

  ASSERT_TRUE(all_in_flight);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->sent, 50);
  EXPECT_EQ(summary->delivered, 0);
  EXPECT_EQ(summary->failed, 50);
  EXPECT_EQ(summary->signal_number, SIGTERM);
  EXPECT_EQ(summary->first_failure, "still unconfirmed when stopped");
}

}  // namespace
}  // namespace clickstream::produce
