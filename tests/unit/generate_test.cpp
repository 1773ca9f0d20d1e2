#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "event/time_units.h"
#include "event/timestamp.h"
#include "generate/csv_writer.h"
#include "generate/generator.h"
#include "generate/random.h"
#include "generate/segments.h"

namespace clickstream::generate {
namespace {

std::vector<GeneratedEvent> GenerateAll(const GenerateOptions& options) {
  ClickstreamGenerator generator(options);
  std::vector<GeneratedEvent> all;
  std::vector<GeneratedEvent> batch;
  while (generator.NextBatch(&batch)) all.insert(all.end(), batch.begin(), batch.end());
  return all;
}

GenerateOptions Options(int64_t events, GenerateFlags flags = {}) {
  flags.events = events;
  auto options = ResolveGenerateOptions(flags);
  EXPECT_TRUE(options.ok()) << options.status().ToString();
  return *options;
}

// ---- the segment table --------------------------------------------------------------------------

TEST(GenerateSegments, EveryCombinationIsConsistent) {
  const std::set<std::string_view> desktop_os = {"Windows", "macOS", "Linux", "ChromeOS"};
  const std::set<std::string_view> handheld_os = {"iOS", "Android"};
  std::set<std::tuple<std::string_view, std::string_view, std::string_view>> seen;
  for (const Segment& s : Segments()) {
    SCOPED_TRACE(std::string(s.device) + "/" + std::string(s.browser) + "/" + std::string(s.os));
    EXPECT_TRUE(seen.emplace(s.device, s.browser, s.os).second) << "listed twice";
    EXPECT_GT(s.weight, 0);
    if (s.device == "desktop") {
      EXPECT_TRUE(desktop_os.count(s.os));
    } else {
      EXPECT_TRUE(s.device == "mobile" || s.device == "tablet");
      EXPECT_TRUE(handheld_os.count(s.os));
    }
    if (s.browser == "Safari") {
      EXPECT_TRUE(s.os == "iOS" || s.os == "macOS");
    }
    if (s.browser == "Samsung Internet") {
      EXPECT_EQ(s.os, "Android");
    }
    if (s.browser == "Edge") {
      EXPECT_EQ(s.os, "Windows");
    }
  }
}

TEST(GenerateSegments, FindSegmentKnowsOnlyTheTable) {
  for (size_t i = 0; i < Segments().size(); ++i) {
    const Segment& s = Segments()[i];
    EXPECT_EQ(FindSegment(s.device, s.browser, s.os), i);
  }
  EXPECT_FALSE(FindSegment("desktop", "Safari", "iOS"));
  EXPECT_FALSE(FindSegment("mobile", "Safari", "Android"));
  EXPECT_FALSE(FindSegment("tablet", "Safari", "iPadOS"));
  EXPECT_FALSE(FindSegment("mobile", "Samsung Internet", "iOS"));
}

TEST(GenerateSegments, SafariOnIosCarriesAFifthOfVisitorsOnPhonesAndTablets) {
  double total = 0, safari_ios = 0;
  std::set<std::string_view> devices;
  for (const Segment& s : Segments()) {
    total += s.weight;
    if (IsSafariOnIos(s)) {
      safari_ios += s.weight;
      devices.insert(s.device);
    }
  }
  EXPECT_GE(safari_ios / total, 0.15);
  EXPECT_LE(safari_ios / total, 0.25);
  EXPECT_EQ(devices, (std::set<std::string_view>{"mobile", "tablet"}));
}

// ---- flags --------------------------------------------------------------------------------------

TEST(GenerateOptions, DefaultsMirrorRetailRocket) {
  const auto options = ResolveGenerateOptions(GenerateFlags{});
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->events, 2756101);
  EXPECT_EQ(FormatDate(options->start_day * kSecondsPerDay), "2015-05-03");
  EXPECT_EQ(FormatDate((options->start_day + options->days - 1) * kSecondsPerDay), "2015-09-18");
  EXPECT_EQ(FormatDate(options->bug_start_day * kSecondsPerDay), "2015-07-27");
  EXPECT_EQ(options->bug, Bug::kSafariIos);
  EXPECT_DOUBLE_EQ(options->bug_severity, 0.9);
}

TEST(GenerateOptions, BadFlagsAreNamed) {
  const std::vector<std::pair<std::function<void(GenerateFlags*)>, std::string>> cases = {
      {[](GenerateFlags* f) { f->events = -1; }, "--events"},
      {[](GenerateFlags* f) { f->days = 0; }, "--days"},
      {[](GenerateFlags* f) { f->days = -3; }, "--days"},
      {[](GenerateFlags* f) { f->start_date = "2015-02-30"; }, "--start-date"},
      {[](GenerateFlags* f) { f->start_date = "yesterday"; }, "--start-date"},
      {[](GenerateFlags* f) { f->bug = "firefox"; }, "--bug"},
      {[](GenerateFlags* f) { f->bug_severity = 1.5; }, "--bug-severity"},
      {[](GenerateFlags* f) { f->bug_severity = -0.1; }, "--bug-severity"},
      {[](GenerateFlags* f) { f->bug_start = "2015-13-01"; }, "--bug-start"},
      {[](GenerateFlags* f) { f->bug_start = "2015-09-19"; }, "--bug-start"},
      {[](GenerateFlags* f) { f->bug_start = "2015-05-02"; }, "--bug-start"},
  };
  for (const auto& [mutate, flag] : cases) {
    GenerateFlags flags;
    mutate(&flags);
    const auto options = ResolveGenerateOptions(flags);
    ASSERT_FALSE(options.ok()) << flag;
    EXPECT_TRUE(options.status().IsInvalid());
    EXPECT_NE(options.status().message().find(flag), std::string::npos) << options.status().message();
  }
}

TEST(GenerateOptions, BugStartMayBeAnyDayOfTheRange) {
  GenerateFlags flags;
  for (const char* day : {"2015-05-03", "2015-09-18"}) {
    flags.bug_start = day;
    const auto options = ResolveGenerateOptions(flags);
    ASSERT_TRUE(options.ok()) << day;
    EXPECT_EQ(FormatDate(options->bug_start_day * kSecondsPerDay), day);
  }
}

// ---- the stream ---------------------------------------------------------------------------------

TEST(GenerateStream, WritesExactlyTheRequestedNumberOfEvents) {
  for (int64_t events : {0, 1, 7, 1000, 54321}) {
    EXPECT_EQ(static_cast<int64_t>(GenerateAll(Options(events)).size()), events) << events;
  }
  GenerateFlags one_day;
  one_day.days = 1;
  EXPECT_EQ(GenerateAll(Options(5000, one_day)).size(), 5000u);
}

TEST(GenerateStream, SameArgumentsSameEventsOtherSeedOtherEvents) {
  const auto first = GenerateAll(Options(20000));
  EXPECT_EQ(first, GenerateAll(Options(20000)));
  GenerateFlags other;
  other.seed = 7;
  EXPECT_NE(first, GenerateAll(Options(20000, other)));
}

TEST(Rng, SameSeedSameNumbersAndBoundsHold) {
  Rng a(1), b(1), c(2);
  for (int i = 0; i < 1000; ++i) {
    const uint64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
    EXPECT_LT(c.Below(7), 7u);
    const double u = c.Uniform();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

TEST(ScatterPermutation, IsABijection) {
  for (uint64_t size : {1, 2, 10, 97, 1000, 4096}) {
    ScatterPermutation permute(size, 42);
    std::set<uint64_t> images;
    for (uint64_t x = 0; x < size; ++x) images.insert(permute(x));
    EXPECT_EQ(images.size(), size);
    EXPECT_LT(*images.rbegin(), size);
  }
}

TEST(CsvRow, FormatsEveryColumn) {
  GeneratedEvent event;
  event.timestamp = *ParseTimestamp("2015-06-01 12:00:05");
  event.visitor_id = 257597;
  event.item_id = 355908;
  event.type = EventType::kView;
  event.segment = static_cast<uint8_t>(*FindSegment("mobile", "Safari", "iOS"));
  std::string text;
  AppendCsvRow(event, &text);
  event.type = EventType::kTransaction;
  event.transaction_id = 0;
  event.segment = static_cast<uint8_t>(*FindSegment("mobile", "Samsung Internet", "Android"));
  AppendCsvRow(event, &text);
  EXPECT_EQ(text,
            "2015-06-01 12:00:05,257597,view,355908,,mobile,Safari,iOS\n"
            "2015-06-01 12:00:05,257597,transaction,355908,0,mobile,Samsung Internet,Android\n");
}

TEST(CsvFile, HeaderThenOneLinePerEvent) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(WriteClickstreamCsv(Options(250), file).ok());
  std::rewind(file);
  std::string text;
  char chunk[4096];
  for (size_t n; (n = std::fread(chunk, 1, sizeof(chunk), file)) > 0;) text.append(chunk, n);
  std::fclose(file);
  EXPECT_EQ(text.substr(0, text.find('\n')), "timestamp,visitor_id,event_type,item_id,transaction_id,device,browser,os");
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 251);
}

// A mid-sized default-shaped run shared by the statistical tests below.
class GenerateMidSized : public ::testing::Test {
 protected:
  static constexpr int64_t kEvents = 600000;
  static void SetUpTestSuite() {
    events_ = new std::vector<GeneratedEvent>(GenerateAll(Options(kEvents)));
    options_ = new GenerateOptions(Options(kEvents));
  }
  static void TearDownTestSuite() {
    delete events_;
    delete options_;
  }
  static std::vector<GeneratedEvent>* events_;
  static GenerateOptions* options_;
};
std::vector<GeneratedEvent>* GenerateMidSized::events_ = nullptr;
GenerateOptions* GenerateMidSized::options_ = nullptr;

TEST_F(GenerateMidSized, TimeOrderedInsideTheRange) {
  const int64_t start = options_->start_day * kSecondsPerDay;
  const int64_t end = (options_->start_day + options_->days) * kSecondsPerDay;
  ASSERT_EQ(static_cast<int64_t>(events_->size()), kEvents);
  EXPECT_GE(events_->front().timestamp, start);
  EXPECT_LT(events_->back().timestamp, end);
  for (size_t i = 1; i < events_->size(); ++i) {
    ASSERT_LE((*events_)[i - 1].timestamp, (*events_)[i].timestamp) << "row " << i;
  }
}

TEST_F(GenerateMidSized, PurchasesFollowAddToCartsThatFollowViews) {
  std::set<std::pair<int64_t, int64_t>> viewed, carted;
  std::map<int64_t, uint8_t> visitor_segment;
  for (const GeneratedEvent& e : *events_) {
    ASSERT_LT(e.segment, Segments().size());
    const auto [it, inserted] = visitor_segment.emplace(e.visitor_id, e.segment);
    ASSERT_EQ(it->second, e.segment) << "visitor " << e.visitor_id << " changed device";
    ASSERT_EQ(e.transaction_id >= 0, e.type == EventType::kTransaction);
    const std::pair<int64_t, int64_t> key{e.visitor_id, e.item_id};
    switch (e.type) {
      case EventType::kView:
        viewed.insert(key);
        break;
      case EventType::kAddToCart:
        ASSERT_TRUE(viewed.count(key)) << "add-to-cart without a view";
        carted.insert(key);
        break;
      case EventType::kTransaction:
        ASSERT_TRUE(carted.count(key)) << "purchase without an add-to-cart";
        break;
    }
  }
}

TEST_F(GenerateMidSized, MixResemblesRetailRocket) {
  int64_t counts[kEventTypeCount] = {};
  std::set<int64_t> visitors, items;
  for (const GeneratedEvent& e : *events_) {
    ++counts[static_cast<int>(e.type)];
    visitors.insert(e.visitor_id);
    items.insert(e.item_id);
  }
  const double n = static_cast<double>(events_->size());
  EXPECT_NEAR(counts[0] / n, 0.967, 0.005);
  EXPECT_NEAR(counts[1] / n, 0.025, 0.003);
  EXPECT_NEAR(counts[2] / n, 0.008, 0.0015);
  // RetailRocket: 0.51 visitors and 0.085 items per event.
  EXPECT_NEAR(visitors.size() / n, 0.51, 0.06);
  EXPECT_NEAR(items.size() / n, 0.085, 0.02);
}

TEST_F(GenerateMidSized, StreamsInSmallBatches) {
  ClickstreamGenerator generator(*options_);
  std::vector<GeneratedEvent> batch;
  size_t largest = 0;
  int64_t rows = 0;
  int64_t batches = 0;
  while (generator.NextBatch(&batch)) {
    largest = std::max(largest, batch.size());
    rows += static_cast<int64_t>(batch.size());
    ++batches;
  }
  // Every event, in many batches: one hour at a time, and the busiest hour is a tiny part of the run.
  EXPECT_EQ(rows, kEvents);
  EXPECT_GT(largest, 0u);
  EXPECT_LT(largest, static_cast<size_t>(kEvents / 200));
  EXPECT_GT(batches, 200);
}

struct Funnel {
  int64_t add_to_carts = 0;
  int64_t purchases = 0;
  double Ratio() const { return static_cast<double>(purchases) / static_cast<double>(add_to_carts); }
};

// Purchases per add-to-cart before and after the bug start, by a grouping of segments.
std::map<std::string, std::pair<Funnel, Funnel>> FunnelsBy(const std::vector<GeneratedEvent>& events,
                                                         const GenerateOptions& options,
                                                         std::function<std::string(const Segment&)> group) {
  std::map<std::string, std::pair<Funnel, Funnel>> funnels;
  for (const GeneratedEvent& e : events) {
    auto& [before, after] = funnels[group(Segments()[e.segment])];
    Funnel& funnel = e.timestamp >= options.bug_start_day * kSecondsPerDay ? after : before;
    if (e.type == EventType::kAddToCart) ++funnel.add_to_carts;
    if (e.type == EventType::kTransaction) ++funnel.purchases;
  }
  return funnels;
}

// Groups large enough for a ratio to be steady at this size.
std::string BugGroup(const Segment& s) {
  if (IsSafariOnIos(s)) return "safari-ios";
  if (s.device == "desktop") return s.browser == "Chrome" ? "desktop-chrome" : "desktop-other";
  return "other-handheld";
}

TEST_F(GenerateMidSized, BugCutsSafariIosPurchasesOnly) {
  for (const auto& [group, funnels] : FunnelsBy(*events_, *options_, BugGroup)) {
    const auto& [before, after] = funnels;
    ASSERT_GT(before.purchases, 300) << group;
    const double change = after.Ratio() / before.Ratio();
    if (group == "safari-ios") {
      EXPECT_LE(change, 0.15) << group;
    } else {
      EXPECT_NEAR(change, 1.0, 0.2) << group;
    }
  }
}

TEST_F(GenerateMidSized, BeforeTheBugSafariIosConvertsLikeOtherHandhelds) {
  const auto funnels = FunnelsBy(*events_, *options_, [](const Segment& s) {
    return IsSafariOnIos(s) ? std::string("safari-ios") : s.device == "desktop" ? "desktop" : "other-handheld";
  });
  const double safari_ios = funnels.at("safari-ios").first.Ratio();
  const double handheld = funnels.at("other-handheld").first.Ratio();
  EXPECT_NEAR(safari_ios / handheld, 1.0, 0.15);
}

TEST(GenerateBug, NoneLeavesSafariIosAlone) {
  GenerateFlags flags;
  flags.bug = "none";
  const GenerateOptions options = Options(300000, flags);
  const auto funnels = FunnelsBy(GenerateAll(options), options, BugGroup);
  const auto& [before, after] = funnels.at("safari-ios");
  EXPECT_NEAR(after.Ratio() / before.Ratio(), 1.0, 0.2);
}

TEST(GenerateBug, SeverityOneLosesEveryPurchaseAfterTheStart) {
  GenerateFlags flags;
  flags.bug_severity = 1.0;
  const GenerateOptions options = Options(100000, flags);
  const auto funnels = FunnelsBy(GenerateAll(options), options, BugGroup);
  EXPECT_EQ(funnels.at("safari-ios").second.purchases, 0);
  EXPECT_GT(funnels.at("safari-ios").first.purchases, 0);
}

}  // namespace
}  // namespace clickstream::generate
