#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <arrow/io/file.h>
#include <parquet/arrow/writer.h>

#include "event/landed_schema.h"
#include "event/time_units.h"
#include "event/timestamp.h"
#include "report/detector.h"
#include "report/funnel.h"
#include "report/html_report.h"
#include "report/landed_dataset.h"
#include "result_assertions.h"

namespace clickstream::report {
namespace {

// Daily carts and purchases: `segment_rate(day)` and `rest_rate(day)` per cart, binomial noise
// from a fixed seed.
template <typename SegmentRate, typename RestRate>
RateSeries Simulate(int days, int64_t carts, int64_t rest_carts, SegmentRate segment_rate, RestRate rest_rate,
                    uint32_t seed = 7) {
  std::mt19937 random(seed);
  RateSeries series;
  for (int day = 0; day < days; ++day) {
    std::binomial_distribution<int64_t> own(carts, segment_rate(day));
    std::binomial_distribution<int64_t> rest(rest_carts, rest_rate(day));
    series.carts.push_back(carts);
    series.purchases.push_back(own(random));
    series.rest_carts.push_back(rest_carts);
    series.rest_purchases.push_back(rest(random));
  }
  return series;
}

TEST(ReportDetector, FindsASustainedDropAtTheRightDay) {
  for (uint32_t seed : {1u, 2u, 3u, 4u}) {
    const auto series = Simulate(
        139, 15, 400, [](int day) { return day < 85 ? 0.32 : 0.032; }, [](int) { return 0.32; }, seed);
    const Finding finding = DetectDrop(series, DetectorOptions{});
    EXPECT_TRUE(finding.flagged) << "seed " << seed << " z=" << finding.z;
    EXPECT_NEAR(finding.split_day, 85, 1) << "seed " << seed;
    EXPECT_NEAR(finding.rate_before, 0.32, 0.03);
    EXPECT_NEAR(finding.rate_after, 0.032, 0.02);
    EXPECT_GT(finding.relative_drop, 0.75);
    EXPECT_GT(finding.lost_purchases, 100);
  }
}

TEST(ReportDetector, FlatSeriesIsNotFlagged) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    const auto series = Simulate(139, 15, 400, [](int) { return 0.3; }, [](int) { return 0.3; }, seed);
    const Finding finding = DetectDrop(series, DetectorOptions{});
    EXPECT_FALSE(finding.flagged) << "seed " << seed << " z=" << finding.z;
    EXPECT_LT(finding.z, 4.0) << "seed " << seed;
  }
}

TEST(ReportDetector, SiteWideDropIsNotASegmentBug) {
  // The whole site loses half its purchases from day 70 on, and for a week earlier on.
  auto site_rate = [](int day) { return day >= 70 || (day >= 30 && day < 37) ? 0.15 : 0.3; };
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    const Finding finding = DetectDrop(Simulate(139, 40, 400, site_rate, site_rate, seed), DetectorOptions{});
    EXPECT_FALSE(finding.flagged) << "seed " << seed << " z=" << finding.z << " drop=" << finding.relative_drop;
  }
}

TEST(ReportDetector, SegmentBugIsFoundDespiteASiteWideDip) {
  auto site_rate = [](int day) { return day >= 30 && day < 40 ? 0.1 : 0.3; };
  auto segment_rate = [&](int day) { return site_rate(day) * (day >= 100 ? 0.1 : 1.0); };
  const Finding finding = DetectDrop(Simulate(139, 30, 400, segment_rate, site_rate), DetectorOptions{});
  EXPECT_TRUE(finding.flagged) << finding.z;
  EXPECT_NEAR(finding.split_day, 100, 1);
}

TEST(ReportDetector, SmallDropsAndSmallSegmentsAreNotFlagged) {
  // Clearly real but only -15%: below the minimum relative drop.
  const auto mild = Simulate(139, 2000, 4000, [](int day) { return day < 70 ? 0.3 : 0.255; }, [](int) { return 0.3; });
  const Finding mild_finding = DetectDrop(mild, DetectorOptions{});
  EXPECT_GT(mild_finding.z, 5.0);
  EXPECT_FALSE(mild_finding.flagged);
  // A total collapse in a segment with a cart every few days: too little volume to say.
  const auto tiny = Simulate(139, 1, 400, [](int day) { return day < 130 ? 0.3 : 0.0; }, [](int) { return 0.3; });
  EXPECT_FALSE(DetectDrop(tiny, DetectorOptions{}).flagged);
}

TEST(ReportDetector, TooFewDaysGiveNoCandidate) {
  const auto series = Simulate(4, 100, 100, [](int) { return 0.3; }, [](int) { return 0.3; });
  const Finding finding = DetectDrop(series, DetectorOptions{});
  EXPECT_FALSE(finding.flagged);
  EXPECT_EQ(finding.z, 0);
}

// A table of segments with the given series, the site being their sum.
FunnelTable TableOf(const std::vector<RateSeries>& segments) {
  FunnelTable table;
  table.day_count = static_cast<int64_t>(segments.front().carts.size());
  table.site_daily.resize(table.day_count);
  for (size_t s = 0; s < segments.size(); ++s) {
    table.segment_names.push_back("segment " + std::to_string(s));
    table.daily.emplace_back(table.day_count);
    for (int64_t day = 0; day < table.day_count; ++day) {
      FunnelCounts& counts = table.daily[s][day];
      counts.carts = segments[s].carts[day];
      counts.transactions = segments[s].purchases[day];
      table.site_daily[day] += counts;
    }
  }
  return table;
}

// The segments are chosen so that each key matters: the flagged 600-cart drop loses the most
// purchases at a lower z than the 30-cart collapse (z 24 and 27), and the unflagged 3000-cart dip
// loses more than the 400-cart one at a lower z (5.3 and 9.3), so sorting either group by the
// other's key fails.
TEST(ReportDetector, FindingsSortFlaggedByLostPurchasesThenTheRestByZ) {
  const auto steady = [](int) { return 0.3; };
  const std::vector<RateSeries> segments = {
      Simulate(139, 5000, 0, steady, steady, 1),  // most of the site: the pace the others are held to
      Simulate(139, 40, 0, steady, steady, 2),
      Simulate(139, 600, 0, [](int day) { return day < 120 ? 0.3 : 0.15; }, steady, 3),
      Simulate(139, 2000, 0, [](int day) { return day < 70 ? 0.3 : 0.255; }, steady, 4),  // z > 5, too mild
      Simulate(139, 30, 0, [](int day) { return day < 50 ? 0.3 : 0.0; }, steady, 5),
      Simulate(139, 60, 0, [](int day) { return day < 100 ? 0.3 : 0.03; }, steady, 6),
      Simulate(139, 400, 0, [](int day) { return day < 110 ? 0.3 : 0.225; }, steady, 7),  // milder still
      Simulate(139, 3000, 0, [](int day) { return day < 70 ? 0.3 : 0.27; }, steady, 8),  // many lost, lower z
  };
  const std::vector<Finding> findings = DetectDrops(TableOf(segments), DetectorOptions{});
  ASSERT_EQ(findings.size(), segments.size());
  size_t flagged = 0;
  while (flagged < findings.size() && findings[flagged].flagged) ++flagged;
  ASSERT_EQ(flagged, 3u) << "the three drops, and nothing else, are flagged";
  for (size_t i = 1; i < findings.size(); ++i) {
    EXPECT_EQ(findings[i].flagged, i < flagged) << "flagged findings come first";
    if (i < flagged) {
      EXPECT_GE(findings[i - 1].lost_purchases, findings[i].lost_purchases) << i;
    } else if (i > flagged) {
      EXPECT_GE(findings[i - 1].z, findings[i].z) << i;
    }
  }
}

TEST(ReportSegmentBy, ParsesSubsetsAndRejectsUnknownNames) {
  ASSERT_OK_AND_ASSIGN(auto all, ParseSegmentBy("device,browser,os"));
  EXPECT_EQ(all, (std::vector<Dimension>{Dimension::kDevice, Dimension::kBrowser, Dimension::kOs}));
  ASSERT_OK_AND_ASSIGN(auto some, ParseSegmentBy("os, device"));
  EXPECT_EQ(some, (std::vector<Dimension>{Dimension::kOs, Dimension::kDevice}));
  EXPECT_FALSE(ParseSegmentBy("").ok());
  EXPECT_FALSE(ParseSegmentBy("device,country").ok());
  EXPECT_FALSE(ParseSegmentBy("os,os").ok());
}

Event MakeEvent(const char* timestamp, const char* visitor, EventType type, const char* device, const char* browser,
                const char* os) {
  Event event;
  event.source_id = "report_test";
  event.source_line = 2;
  event.timestamp = *ParseTimestamp(timestamp);
  event.visitor_id = visitor;
  event.event_type = type;
  event.item_id = "1";
  if (type == EventType::kTransaction) event.transaction_id = "t";
  event.device = device;
  event.browser = browser;
  event.os = os;
  return event;
}

std::vector<Event> SampleEvents() {
  return {
      MakeEvent("2015-06-01 10:00:00", "a", EventType::kView, "mobile", "Safari", "iOS"),
      MakeEvent("2015-06-01 10:01:00", "a", EventType::kAddToCart, "mobile", "Safari", "iOS"),
      MakeEvent("2015-06-01 10:02:00", "a", EventType::kTransaction, "mobile", "Safari", "iOS"),
      MakeEvent("2015-06-01 11:00:00", "b", EventType::kView, "mobile", "Safari", "iOS"),
      MakeEvent("2015-06-01 12:00:00", "c", EventType::kView, "desktop", "Chrome", "Windows"),
      MakeEvent("2015-06-03 23:59:59", "a", EventType::kView, "mobile", "Safari", "iOS"),
      MakeEvent("2015-06-03 09:00:00", "d", EventType::kView, "", "", ""),
  };
}

std::shared_ptr<arrow::RecordBatch> LandedBatch(const std::vector<Event>& events, DateColumn date_column) {
  LandedBatchBuilder builder(date_column);
  for (const Event& event : events) EXPECT_TRUE(builder.Append(event, LandingInfo{}).ok());
  return *builder.Finish();
}

void ExpectSampleFunnel(const FunnelTable& table) {
  EXPECT_EQ(table.events, 7);
  EXPECT_EQ(table.day_count, 3);
  EXPECT_EQ(FormatDate(table.first_day * kSecondsPerDay), "2015-06-01");
  ASSERT_EQ(table.segment_names,
            (std::vector<std::string>{"desktop / Chrome / Windows", "mobile / Safari / iOS", "unknown / unknown / unknown"}));
  const FunnelCounts& safari_first_day = table.daily[1][0];
  EXPECT_EQ(safari_first_day.visitors, 2);
  EXPECT_EQ(safari_first_day.views, 2);
  EXPECT_EQ(safari_first_day.carts, 1);
  EXPECT_EQ(safari_first_day.transactions, 1);
  EXPECT_EQ(table.daily[1][1].visitors, 0);
  EXPECT_EQ(table.daily[1][2].visitors, 1);
  EXPECT_EQ(table.segment_totals[1].visitors, 2);  // "a" on two days counts once
  EXPECT_EQ(table.site_total.visitors, 4);
  EXPECT_EQ(table.site_total.views, 5);
  EXPECT_EQ(table.site_daily[0].carts, 1);
}

TEST(ReportFunnel, CountsVisitorsAndStepsPerDayAndSegment) {
  FunnelAggregator aggregator(*ParseSegmentBy("device,browser,os"));
  ASSERT_TRUE(aggregator.Consume(*LandedBatch(SampleEvents(), DateColumn::kInFile)).ok());
  ExpectSampleFunnel(aggregator.Finish());
}

TEST(ReportFunnel, RejectsABatchWithoutTheColumns) {
  auto batch = arrow::RecordBatch::Make(arrow::schema({arrow::field("x", arrow::int32())}), 0,
                                        arrow::ArrayVector{*arrow::MakeArrayOfNull(arrow::int32(), 0)});
  FunnelAggregator aggregator(*ParseSegmentBy("device"));
  const arrow::Status status = aggregator.Consume(*batch);
  EXPECT_TRUE(status.IsInvalid());
  EXPECT_NE(status.message().find("timestamp"), std::string::npos);
}

// Segment keys pack one 21-bit value id per dimension: a column with more distinct values than
// that is refused by name instead of folding unrelated values into one segment.
TEST(ReportFunnel, RefusesMoreDistinctValuesThanASegmentKeyHolds) {
  constexpr int64_t kValues = (int64_t{1} << 21) + 1;
  arrow::StringBuilder names;
  for (int64_t i = 0; i < kValues; ++i) ASSERT_TRUE(names.Append("browser-" + std::to_string(i)).ok());
  ASSERT_OK_AND_ASSIGN(auto dictionary, names.Finish());
  ASSERT_OK_AND_ASSIGN(auto indices, arrow::MakeArrayFromScalar(arrow::Int32Scalar(kValues - 1), 1));
  const auto browser_type = arrow::dictionary(arrow::int32(), arrow::utf8());
  ASSERT_OK_AND_ASSIGN(auto browsers, arrow::DictionaryArray::FromArrays(browser_type, indices, dictionary));
  const auto timestamp_type = arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  ASSERT_OK_AND_ASSIGN(auto timestamps, arrow::MakeArrayFromScalar(arrow::TimestampScalar(0, timestamp_type), 1));
  ASSERT_OK_AND_ASSIGN(auto visitors, arrow::MakeArrayFromScalar(arrow::StringScalar("v"), 1));
  ASSERT_OK_AND_ASSIGN(auto types, arrow::MakeArrayFromScalar(arrow::StringScalar("view"), 1));
  auto schema = arrow::schema({arrow::field(column::kTimestamp, timestamps->type()),
                               arrow::field(column::kVisitorId, arrow::utf8()),
                               arrow::field(column::kEventType, arrow::utf8()),
                               arrow::field(column::kBrowser, browsers->type())});
  auto batch = arrow::RecordBatch::Make(schema, 1, {timestamps, visitors, types, browsers});

  FunnelAggregator aggregator(*ParseSegmentBy("browser"));
  const arrow::Status status = aggregator.Consume(*batch);
  EXPECT_TRUE(status.IsInvalid()) << status.ToString();
  EXPECT_NE(status.message().find("column 'browser' has more than 2097152 distinct values"), std::string::npos)
      << status.message();
}

class ReportDatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("report_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  void WriteParquet(const std::filesystem::path& path, const std::shared_ptr<arrow::RecordBatch>& batch) {
    std::filesystem::create_directories(path.parent_path());
    ASSERT_OK_AND_ASSIGN(auto table, arrow::Table::FromRecordBatches({batch}));
    ASSERT_OK_AND_ASSIGN(auto file, arrow::io::FileOutputStream::Open(path.string()));
    ASSERT_TRUE(parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), file, 1024).ok());
    ASSERT_TRUE(file->Close().ok());
  }

  std::filesystem::path root_;
};

TEST_F(ReportDatasetTest, ReadsTheHiveLayoutAndIgnoresTemporaryFiles) {
  const auto events = SampleEvents();
  WriteParquet(root_ / "event_date=2015-06-01" / "part-0.parquet",
               LandedBatch({events.begin(), events.begin() + 5}, DateColumn::kInPath));
  WriteParquet(root_ / "event_date=2015-06-03" / "part-0.parquet",
               LandedBatch({events.begin() + 5, events.end()}, DateColumn::kInPath));
  // A file the sink has not renamed into place yet, and a stray non-Parquet file.
  WriteParquet(root_ / "event_date=2015-06-03" / ".part-1.parquet.tmp", LandedBatch(events, DateColumn::kInPath));
  std::ofstream(root_ / "README.txt") << "not data";
  ASSERT_OK_AND_ASSIGN(auto table, ReadFunnel(root_.string(), *ParseSegmentBy("device,browser,os")));
  ExpectSampleFunnel(table);
}

TEST_F(ReportDatasetTest, ReadsTheFlatLayout) {
  WriteParquet(root_ / "part-0.parquet", LandedBatch(SampleEvents(), DateColumn::kInFile));
  ASSERT_OK_AND_ASSIGN(auto table, ReadFunnel(root_.string(), *ParseSegmentBy("device,browser,os")));
  ExpectSampleFunnel(table);
}

// A path, the same path with a trailing '/' and a file:// URI all go through the dataset store the
// consumer lands into; reading never creates the directory a mistyped path names.
TEST_F(ReportDatasetTest, ReadsEveryFormOfALocalLocationThroughTheStoreAndCreatesNothing) {
  WriteParquet(root_ / "part-0.parquet", LandedBatch(SampleEvents(), DateColumn::kInFile));
  for (const std::string& input : {root_.string(), root_.string() + "/", "file://" + root_.string()}) {
    ASSERT_OK_AND_ASSIGN(auto table, ReadFunnel(input, *ParseSegmentBy("device,browser,os")));
    ExpectSampleFunnel(table);
  }
  const std::filesystem::path nope = root_ / "nope";
  for (const std::string& input : {nope.string(), "file://" + nope.string()}) {
    auto missing = ReadFunnel(input, *ParseSegmentBy("device,browser,os"));
    ASSERT_FALSE(missing.ok()) << input;
    EXPECT_TRUE(missing.status().IsInvalid()) << missing.status().ToString();
    EXPECT_EQ(missing.status().message(), "input directory " + nope.string() + " does not exist");
    EXPECT_FALSE(std::filesystem::exists(nope)) << input;
  }
}

TEST_F(ReportDatasetTest, ExplainsMissingEmptyAndForeignInput) {
  const auto dimensions = *ParseSegmentBy("device,browser,os");
  auto missing = ReadFunnel((root_ / "nope").string(), dimensions);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("does not exist"), std::string::npos);

  auto empty = ReadFunnel(root_.string(), dimensions);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("no Parquet files"), std::string::npos);

  auto foreign = arrow::RecordBatch::Make(arrow::schema({arrow::field("timestamp", arrow::int64())}), 1,
                                          arrow::ArrayVector{*arrow::MakeArrayFromScalar(arrow::Int64Scalar(1), 1)});
  WriteParquet(root_ / "other.parquet", foreign);
  auto wrong = ReadFunnel(root_.string(), dimensions);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("has no column 'visitor_id'"), std::string::npos) << wrong.status();
}

TEST(ReportHtml, IsSelfContainedAndChartsFlaggedSegments) {
  FunnelAggregator aggregator(*ParseSegmentBy("device,browser,os"));
  ASSERT_TRUE(aggregator.Consume(*LandedBatch(SampleEvents(), DateColumn::kInFile)).ok());
  const FunnelTable table = aggregator.Finish();
  std::vector<Finding> findings(1);
  findings[0].segment = 1;
  findings[0].flagged = true;
  findings[0].split_day = 1;
  findings[0].rate_before = 1.0;
  const std::string html = RenderHtmlReport(table, findings, 5, DetectorOptions{});
  EXPECT_NE(html.find("<svg id=\"rate-chart-0\""), std::string::npos);
  EXPECT_NE(html.find("mobile / Safari / iOS"), std::string::npos);
  EXPECT_EQ(html.find("http"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
}

}  // namespace
}  // namespace clickstream::report
