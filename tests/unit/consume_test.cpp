#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "consume/clock.h"
#include "consume/consume_stats.h"
#include "consume/dead_letters.h"
#include "consume/landing_pipeline.h"
#include "consume/partition_batch.h"
#include "consume/rebalance.h"
#include "event/timestamp.h"
#include "fake_sink.h"
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

// --- the landing round, through the sink seam ---

using Range = FakeSink::BatchRange;

// A batch of dead letters only: its offsets are all a round needs.
sink::PartitionBatchData OffsetsOnly(int32_t partition, int64_t first, int64_t last) {
  sink::PartitionBatchData batch;
  batch.partition = partition;
  batch.first_offset = first;
  batch.last_offset = last;
  return batch;
}

struct Pipeline {
  explicit Pipeline(milliseconds budget) : pipeline(&sink, budget, stop, [this] { return BeforeRound(); }) {}
  arrow::Status BeforeRound() {
    ++rounds_started;
    return before_round;
  }
  FakeSink sink;
  std::atomic<bool> stop{false};
  arrow::Status before_round;
  int rounds_started = 0;
  LandingPipeline pipeline;
};

TEST(LandingPipeline, LandsARoundAndReportsEachBatchDurable) {
  Pipeline p(milliseconds(1000));
  p.pipeline.Add(OffsetsOnly(0, 0, 9));
  p.pipeline.Add(OffsetsOnly(1, 5, 7));
  ASSERT_OK_AND_ASSIGN(auto durable, p.pipeline.Advance(/*block=*/true));
  ASSERT_EQ(durable.size(), 2u);
  EXPECT_EQ(durable[0].partition, 0);
  EXPECT_EQ(durable[0].next_offset, 10);
  EXPECT_EQ(durable[1].partition, 1);
  EXPECT_EQ(durable[1].next_offset, 8);
  EXPECT_EQ(durable[1].landed.files, 1);
  ASSERT_EQ(p.sink.lands().size(), 1u);
  EXPECT_EQ(p.sink.lands()[0].batches, (std::vector<Range>{{0, 0, 9}, {1, 5, 7}}));
  EXPECT_EQ(p.rounds_started, 1);
  EXPECT_TRUE(p.pipeline.idle());
}

TEST(LandingPipeline, KeepsSealingWhileARoundLandsAndLandsThemNext) {
  Pipeline p(milliseconds(1000));
  p.sink.Hold();
  p.pipeline.Add(OffsetsOnly(0, 0, 9));
  ASSERT_OK_AND_ASSIGN(auto durable, p.pipeline.Advance(/*block=*/false));
  EXPECT_TRUE(durable.empty());
  p.pipeline.Add(OffsetsOnly(0, 10, 19));
  ASSERT_OK_AND_ASSIGN(durable, p.pipeline.Advance(/*block=*/false));
  EXPECT_TRUE(durable.empty());  // the first round is still landing
  p.sink.Release();
  ASSERT_OK_AND_ASSIGN(durable, p.pipeline.Advance(/*block=*/true));
  ASSERT_EQ(durable.size(), 2u);
  EXPECT_EQ(durable[1].next_offset, 20);
  ASSERT_EQ(p.sink.lands().size(), 2u);
  EXPECT_EQ(p.sink.lands()[1].batches, (std::vector<Range>{{0, 10, 19}}));
}

TEST(LandingPipeline, RetriesAFailingRoundWithTheSameWriteTime) {
  Pipeline p(milliseconds(5000));
  p.sink.failing_lands = 2;
  p.pipeline.Add(OffsetsOnly(0, 0, 9));
  ASSERT_OK_AND_ASSIGN(auto durable, p.pipeline.Advance(/*block=*/true));
  ASSERT_EQ(durable.size(), 1u);
  EXPECT_EQ(durable[0].next_offset, 10);
  const auto lands = p.sink.lands();
  ASSERT_EQ(lands.size(), 3u);
  EXPECT_EQ(lands[1].write_time, lands[0].write_time);
  EXPECT_EQ(lands[2].write_time, lands[0].write_time);
  EXPECT_EQ(lands[2].batches, (std::vector<Range>{{0, 0, 9}}));
}

TEST(LandingPipeline, GivesUpOnceTheRetryBudgetIsSpent) {
  // Attempts at 0 and 200 ms; the next would be 400 ms later, past the 300 ms budget. A retry that
  // ignored the budget would land on the fourth attempt.
  Pipeline p(milliseconds(300));
  p.sink.failing_lands = 3;
  p.pipeline.Add(OffsetsOnly(0, 0, 9));
  const auto result = p.pipeline.Advance(/*block=*/true);
  ASSERT_FALSE(result.ok());
  EXPECT_FALSE(sink::IsFenced(result.status()));
  EXPECT_NE(result.status().message().find("giving up on partition 0 offsets 0-9"), std::string::npos)
      << result.status().ToString();
  EXPECT_EQ(p.sink.lands().size(), 2u);
}

TEST(LandingPipeline, AStopEndsTheRetriesAtOnce) {
  Pipeline p(milliseconds(60'000));
  p.sink.failing_lands = 1;
  p.stop = true;
  p.pipeline.Add(OffsetsOnly(0, 0, 9));
  EXPECT_FALSE(p.pipeline.Advance(/*block=*/true).ok());
  EXPECT_EQ(p.sink.lands().size(), 1u);
}

TEST(LandingPipeline, AFencedRoundIsNotRetriedAndSurfacesAsFenced) {
  Pipeline p(milliseconds(5000));
  p.sink.fenced_lands = 1;
  p.pipeline.Add(OffsetsOnly(0, 0, 9));
  const auto result = p.pipeline.Advance(/*block=*/true);
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(sink::IsFenced(result.status())) << result.status().ToString();
  EXPECT_EQ(p.sink.lands().size(), 1u);
  EXPECT_TRUE(p.pipeline.idle());
}

TEST(LandingPipeline, DiscardReportsNothingOfTheRoundInFlightDurable) {
  Pipeline p(milliseconds(1000));
  p.sink.Hold();
  p.pipeline.Add(OffsetsOnly(0, 0, 9));
  ASSERT_OK_AND_ASSIGN(auto durable, p.pipeline.Advance(/*block=*/false));
  EXPECT_FALSE(p.pipeline.idle());
  std::thread release([&] {
    std::this_thread::sleep_for(milliseconds(20));
    p.sink.Release();
  });
  p.pipeline.Discard();  // waits for the round: its files may land
  release.join();
  EXPECT_TRUE(p.pipeline.idle());
  ASSERT_OK_AND_ASSIGN(durable, p.pipeline.Advance(/*block=*/true));
  EXPECT_TRUE(durable.empty());
  EXPECT_EQ(p.sink.lands().size(), 1u);
}

TEST(LandingPipeline, DropSealedDropsOnlyThosePartitions) {
  Pipeline p(milliseconds(1000));
  p.pipeline.Add(OffsetsOnly(0, 0, 9));
  p.pipeline.Add(OffsetsOnly(1, 0, 4));
  p.pipeline.Add(OffsetsOnly(0, 10, 19));
  p.pipeline.DropSealed({0});
  ASSERT_OK_AND_ASSIGN(auto durable, p.pipeline.Advance(/*block=*/true));
  ASSERT_EQ(durable.size(), 1u);
  EXPECT_EQ(durable[0].partition, 1);
  ASSERT_EQ(p.sink.lands().size(), 1u);
  EXPECT_EQ(p.sink.lands()[0].batches, (std::vector<Range>{{1, 0, 4}}));
}

TEST(LandingPipeline, AFailureBeforeTheRoundLandsNothing) {
  Pipeline p(milliseconds(1000));
  p.before_round = arrow::Status::IOError("2 dead letter(s) could not be delivered");
  p.pipeline.Add(OffsetsOnly(0, 0, 9));
  EXPECT_FALSE(p.pipeline.Advance(/*block=*/true).ok());
  EXPECT_TRUE(p.sink.lands().empty());
}

// --- the rebalance paths ---

class FakeGroup final : public GroupPositions {
 public:
  struct CommitCall {
    std::map<int32_t, int64_t> next_offsets;
    bool async;
    bool operator==(const CommitCall&) const = default;
  };
  void Commit(const std::map<int32_t, int64_t>& next_offsets, bool async) override {
    commits.push_back({next_offsets, async});
  }
  arrow::Status Rewind(const std::map<int32_t, int64_t>& next_offsets) override {
    rewinds.push_back(next_offsets);
    return arrow::Status::OK();
  }
  std::vector<CommitCall> commits;
  std::vector<std::map<int32_t, int64_t>> rewinds;
};

using Offsets = std::map<int32_t, int64_t>;

struct Member {
  // Buffers dead letters at offsets first..last in the partition's open batch.
  void Buffer(int32_t partition, int64_t first, int64_t last) {
    PartitionState* state = partitions.Find(partition);
    ASSERT_NE(state, nullptr);
    for (int64_t offset = first; offset <= last; ++offset) state->batch.AddDeadLetter(offset, PartitionBatch::Clock::now());
  }
  void Seal(int32_t partition) { ASSERT_TRUE(partitions.Seal(partitions.Find(partition)).ok()); }

  FakeSink sink;
  FakeGroup group;
  std::atomic<bool> stop{false};
  ConsumeStats stats;
  LandingPipeline pipeline{&sink, milliseconds(1000), stop, nullptr};
  AssignedPartitions partitions{&sink, &pipeline, &group, DateColumn::kInPath, &stats};
};

TEST(AssignedPartitions, AssignResumesFromTheSinkAndFromTheGroupOnlyWhereTheSinkHasNothing) {
  Member m;
  m.sink.resumes[0] = sink::PartitionResume{42, 0};
  m.sink.resumes[1] = sink::PartitionResume{std::nullopt, 0};
  ASSERT_OK_AND_ASSIGN(auto starts, m.partitions.Assign({0, 1}));
  EXPECT_EQ(starts, (std::map<int32_t, std::optional<int64_t>>{{0, 42}, {1, std::nullopt}}));
  EXPECT_EQ(m.sink.recovered(), (std::vector<std::set<int32_t>>{{0, 1}}));
  EXPECT_EQ(m.partitions.durable_next(), (Offsets{{0, 42}}));
  EXPECT_EQ(m.partitions.Find(0)->next_offset, 42);
  EXPECT_EQ(m.partitions.Find(1)->next_offset, -1);
  EXPECT_EQ(m.partitions.Find(2), nullptr);
  EXPECT_EQ(m.stats.partitions, 2);
}

TEST(AssignedPartitions, AssignLandsTheRoundInFlightBeforeRecovering) {
  Member m;
  ASSERT_TRUE(m.partitions.Assign({0}).ok());
  m.Buffer(0, 0, 4);
  m.Seal(0);
  ASSERT_TRUE(m.partitions.Advance(/*block=*/false).ok());
  ASSERT_TRUE(m.partitions.Assign({0, 1}).ok());
  EXPECT_EQ(m.sink.calls(), (std::vector<std::string>{"Recover", "Land", "Recover"}));
  EXPECT_EQ(m.group.commits, (std::vector<FakeGroup::CommitCall>{{{{0, 5}}, true}}));
}

TEST(AssignedPartitions, AnOrderlyRevokeLandsWhatIsBufferedCommitsThenForgets) {
  Member m;
  ASSERT_TRUE(m.partitions.Assign({0, 1}).ok());
  m.Buffer(0, 0, 4);
  m.Buffer(1, 10, 12);
  m.partitions.Revoke({0});
  // Both partitions' batches land, so a partition's batches stay in order.
  ASSERT_EQ(m.sink.lands().size(), 1u);
  EXPECT_EQ(m.sink.lands()[0].batches, (std::vector<Range>{{0, 0, 4}, {1, 10, 12}}));
  EXPECT_EQ(m.group.commits, (std::vector<FakeGroup::CommitCall>{{{{0, 5}, {1, 13}}, true}, {{{0, 5}}, false}}));
  EXPECT_EQ(m.sink.calls().back(), "Forget");
  EXPECT_EQ(m.sink.forgotten(), (std::vector<std::set<int32_t>>{{0}}));
  EXPECT_EQ(m.partitions.Find(0), nullptr);
  EXPECT_NE(m.partitions.Find(1), nullptr);
  EXPECT_EQ(m.partitions.durable_next(), (Offsets{{1, 13}}));
  EXPECT_EQ(m.stats.partitions, 1);
}

TEST(AssignedPartitions, AnOrderlyRevokeAfterALandingFailureLandsAndCommitsNothing) {
  Member m;
  ASSERT_TRUE(m.partitions.Assign({0}).ok());
  m.Buffer(0, 0, 4);
  m.partitions.Fail(arrow::Status::IOError("disk full"));
  m.partitions.Revoke({0});
  EXPECT_TRUE(m.sink.lands().empty());
  EXPECT_TRUE(m.group.commits.empty());
  EXPECT_EQ(m.sink.forgotten(), (std::vector<std::set<int32_t>>{{0}}));
}

TEST(AssignedPartitions, ALostPartitionLandsAndCommitsNothingMore) {
  Member m;
  ASSERT_TRUE(m.partitions.Assign({0, 1}).ok());
  m.Buffer(0, 0, 4);
  m.Seal(0);          // sealed, not landing yet
  m.Buffer(0, 5, 6);  // still open
  m.Buffer(1, 10, 12);
  m.partitions.Lose({0});
  EXPECT_EQ(m.partitions.Find(0), nullptr);
  EXPECT_EQ(m.sink.forgotten(), (std::vector<std::set<int32_t>>{{0}}));
  EXPECT_TRUE(m.group.commits.empty());
  ASSERT_TRUE(m.partitions.FlushAll().ok());
  ASSERT_EQ(m.sink.lands().size(), 1u);
  EXPECT_EQ(m.sink.lands()[0].batches, (std::vector<Range>{{1, 10, 12}}));
  EXPECT_EQ(m.group.commits, (std::vector<FakeGroup::CommitCall>{{{{1, 13}}, true}}));
}

TEST(AssignedPartitions, WhatARoundInFlightLandsOfALostPartitionIsNeverCommitted) {
  Member m;
  ASSERT_TRUE(m.partitions.Assign({0, 1}).ok());
  m.Buffer(0, 0, 4);
  m.Buffer(1, 10, 12);
  m.sink.Hold();
  m.Seal(0);
  m.Seal(1);
  ASSERT_TRUE(m.partitions.Advance(/*block=*/false).ok());
  m.partitions.Lose({0});
  m.sink.Release();
  ASSERT_TRUE(m.partitions.Advance(/*block=*/true).ok());
  EXPECT_EQ(m.group.commits, (std::vector<FakeGroup::CommitCall>{{{{1, 13}}, true}}));
  EXPECT_EQ(m.partitions.durable_next(), (Offsets{{1, 13}}));
}

TEST(AssignedPartitions, AFencedRoundRewindsEveryPartitionToWhatTheSinkHolds) {
  Member m;
  m.sink.resumes[0] = sink::PartitionResume{0, 0};
  m.sink.resumes[1] = sink::PartitionResume{10, 0};
  ASSERT_TRUE(m.partitions.Assign({0, 1}).ok());
  m.Buffer(0, 0, 4);
  m.Buffer(1, 10, 12);
  m.sink.Hold();
  m.sink.fenced_lands = 1;
  m.Seal(0);
  m.Seal(1);
  ASSERT_TRUE(m.partitions.Advance(/*block=*/false).ok());
  m.Buffer(0, 5, 6);
  m.Seal(0);          // sealed while the fenced round lands
  m.Buffer(0, 7, 7);  // still open
  m.sink.resumes[0] = sink::PartitionResume{8, 0};  // another member landed 0-7 meanwhile
  m.sink.Release();
  ASSERT_TRUE(m.partitions.Advance(/*block=*/true).ok());
  EXPECT_EQ(m.sink.lands().size(), 1u);  // not retried
  EXPECT_EQ(m.sink.recovered(), (std::vector<std::set<int32_t>>{{0, 1}, {0, 1}}));
  EXPECT_EQ(m.group.rewinds, (std::vector<Offsets>{{{0, 8}, {1, 10}}}));
  EXPECT_TRUE(m.group.commits.empty());
  EXPECT_EQ(m.partitions.durable_next(), (Offsets{{0, 8}, {1, 10}}));
  EXPECT_EQ(m.partitions.Find(0)->next_offset, 8);
  EXPECT_TRUE(m.partitions.Find(0)->batch.empty());
  // Nothing from before the rewind is left to land.
  ASSERT_TRUE(m.partitions.FlushAll().ok());
  EXPECT_EQ(m.sink.lands().size(), 1u);
  EXPECT_TRUE(m.partitions.failure().ok());
}

TEST(AssignedPartitions, AFencedPartitionTheSinkHoldsNothingOfStopsTheMember) {
  Member m;
  ASSERT_TRUE(m.partitions.Assign({0}).ok());
  m.Buffer(0, 0, 4);
  m.sink.fenced_lands = 1;
  const arrow::Status status = m.partitions.FlushAll();
  EXPECT_NE(status.message().find("partition 0 was fenced but the fake sink holds no progress"), std::string::npos)
      << status.ToString();
  EXPECT_TRUE(m.group.rewinds.empty());
}

// --- clock sampling ---

int64_t SystemMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(WallClock, FollowsTheSteadyClockBetweenAnchors) {
  WallClock wall;
  const auto now = SteadyClock::now();
  const int64_t at_now = wall.Micros(now);
  EXPECT_NEAR(at_now, SystemMicros(), 50'000);
  EXPECT_EQ(wall.Micros(now + milliseconds(50)), at_now + 50'000);
  EXPECT_EQ(wall.Micros(now + milliseconds(99)), at_now + 99'000);
}

TEST(WallClock, ReanchorsOnTheSystemClockAfter100MsAndWhenTimeGoesBack) {
  WallClock wall;
  const auto now = SteadyClock::now();
  const int64_t at_now = wall.Micros(now);
  // A reading 100 ms ahead of the steady clock takes a new system-clock anchor, so it reads as
  // the system clock now rather than 100 ms later.
  EXPECT_NEAR(wall.Micros(now + WallClock::kReanchorInterval), SystemMicros(), 50'000);
  EXPECT_NEAR(wall.Micros(now), SystemMicros(), 50'000);
  EXPECT_NEAR(wall.Micros(now), at_now, 50'000);
}

TEST(ClockSampler, ReadsAnewAfterAWaitedPollOrOnceEvery64Polls) {
  ClockSampler sampler;
  const auto first = sampler.Read(/*waited=*/true);
  std::this_thread::sleep_for(milliseconds(2));
  for (int i = 1; i < ClockSampler::kMessagesPerRead; ++i) ASSERT_EQ(sampler.Read(/*waited=*/false), first) << i;
  const auto second = sampler.Read(/*waited=*/false);
  EXPECT_GT(second, first);
  std::this_thread::sleep_for(milliseconds(2));
  EXPECT_EQ(sampler.Read(/*waited=*/false), second);
  EXPECT_GT(sampler.Read(/*waited=*/true), second);
}

// --- the dead-letter topic's size ---

TEST(DeadLetterPartitions, TakesTheSourceTopicsCountAndNeverGuesses) {
  ASSERT_OK_AND_ASSIGN(const int partitions, DeadLetterPartitions(std::optional<int>(6), "clicks", "clicks.dlq"));
  EXPECT_EQ(partitions, 6);

  const auto missing = DeadLetterPartitions(std::optional<int>(), "clicks", "clicks.dlq");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("clicks.dlq: the topic clicks does not exist"), std::string::npos)
      << missing.status().ToString();

  const auto unknown = DeadLetterPartitions(
      arrow::Status::IOError("cannot read metadata of clicks: Local: Broker transport failure"), "clicks", "clicks.dlq");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("clicks.dlq like clicks: cannot read metadata of clicks: Local: Broker"),
            std::string::npos)
      << unknown.status().ToString();
}

}  // namespace
}  // namespace clickstream::consume
