#include <gtest/gtest.h>

#include <chrono>

#include "event/json_codec.h"
#include "produce/pacer.h"

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

}  // namespace
}  // namespace clickstream::produce
