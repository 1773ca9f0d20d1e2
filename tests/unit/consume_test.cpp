#include <gtest/gtest.h>

#include "consume/consume_stats.h"
#include "consume/partition_batch.h"
#include "event/timestamp.h"
#include "result_assertions.h"


namespace clickstream::consume {
namespace {

using std::chrono::milliseconds;

Event MakeEvent(const char* timestamp) {
  Event event;
  event.source_id = "s";
  event.source_line = 2;
  event.timestamp = *ParseTimestamp(timestamp);
  event.visitor_id = "1";
  event.item_id = "2";
  return event;
}

TEST(PartitionBatch, GroupsRowsByDateAndCoversDeadLetterOffsets) {
  PartitionBatch batch(3, DateColumn::kInPath);
  const auto now = PartitionBatch::Clock::now();
  ASSERT_TRUE(batch.Add(MakeEvent("2015-06-02 10:00:00"), LandingInfo{3, 100, 0}, now).ok());
  batch.AddDeadLetter(101, now);
  ASSERT_TRUE(batch.Add(MakeEvent("2015-06-01 10:00:00"), LandingInfo{3, 102, 0}, now).ok());
  ASSERT_TRUE(batch.Add(MakeEvent("2015-06-02 11:00:00"), LandingInfo{3, 103, 0}, now).ok());
  batch.AddDeadLetter(104, now);
  EXPECT_EQ(batch.messages(), 5);
  EXPECT_EQ(batch.rows(), 3);
  EXPECT_EQ(batch.dead_letters(), 2);

  ASSERT_OK_AND_ASSIGN(auto data, batch.Take());
  EXPECT_EQ(data.partition, 3);
  EXPECT_EQ(data.first_offset, 100);
  EXPECT_EQ(data.last_offset, 104);
  ASSERT_EQ(data.rows_by_day.size(), 2u);
  EXPECT_EQ(data.rows_by_day[0].first, *ParseDate("2015-06-01"));
  EXPECT_EQ(data.rows_by_day[0].second->num_rows(), 1);
  EXPECT_EQ(data.rows_by_day[1].second->num_rows(), 2);
  EXPECT_TRUE(batch.empty());

  batch.AddDeadLetter(105, now);
  ASSERT_OK_AND_ASSIGN(data, batch.Take());
  EXPECT_EQ(data.first_offset, 105);
  EXPECT_EQ(data.last_offset, 105);
  EXPECT_TRUE(data.rows_by_day.empty());
}

TEST(PartitionBatch, FlatLayoutKeepsOneGroup) {
  PartitionBatch batch(0, DateColumn::kInFile);
  const auto now = PartitionBatch::Clock::now();
  ASSERT_TRUE(batch.Add(MakeEvent("2015-06-02 10:00:00"), LandingInfo{0, 0, 0}, now).ok());
  ASSERT_TRUE(batch.Add(MakeEvent("2015-06-01 10:00:00"), LandingInfo{0, 1, 0}, now).ok());
  ASSERT_OK_AND_ASSIGN(auto data, batch.Take());
  ASSERT_EQ(data.rows_by_day.size(), 1u);
  EXPECT_EQ(data.rows_by_day[0].second->num_rows(), 2);
  EXPECT_NE(data.rows_by_day[0].second->schema()->GetFieldByName("event_date"), nullptr);
}

TEST(PartitionBatch, IsDueWhenFullOrOldEnough) {
  PartitionBatch batch(0, DateColumn::kInPath);
  const auto start = PartitionBatch::Clock::now();
  EXPECT_FALSE(batch.IsDue(start + std::chrono::hours(1), 2, milliseconds(1000)));  // empty: never
  batch.AddDeadLetter(0, start);
  EXPECT_FALSE(batch.IsDue(start + milliseconds(999), 2, milliseconds(1000)));
  EXPECT_TRUE(batch.IsDue(start + milliseconds(1000), 2, milliseconds(1000)));
  batch.AddDeadLetter(1, start + milliseconds(10));
  EXPECT_TRUE(batch.IsDue(start + milliseconds(10), 2, milliseconds(1000)));
}

TEST(ConsumeStats, FormatsTheStatsLine) {
  ConsumeStats stats;
  stats.messages = 1003;
  stats.events = 1000;
  stats.batches = 2;
  stats.files = 4;
  stats.dead_letters = 1;
  stats.lag = 12;
  stats.partitions = 6;
  EXPECT_EQ(FormatStatsLine(stats, 500.4),
            "500 events/s, 1003 read, 1000 events, 2 batches, 4 files (0.0 MiB), 1 dead letters, lag 12, 6 partitions");
  stats.lag = -1;
  EXPECT_NE(FormatStatsLine(stats, 0).find("lag ?"), std::string::npos);
}

}  // namespace
}  // namespace clickstream::consume
