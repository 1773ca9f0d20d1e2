// Segment's tracking calls mapped onto events: the e-commerce names, the identity a resent call
// shares, who and when, the user agent and the context that wins over it, and what is refused.
#include <string>

#include <gtest/gtest.h>

#include "collect/segment_calls.h"
#include "event/timestamp.h"

namespace clickstream::collect {
namespace {

using Outcome = MappedCall::Outcome;

SegmentMappingOptions Options() {
  SegmentMappingOptions options;
  options.received_at = *ParseTimestamp("2026-12-04 18:00:00");
  options.new_message_id = [] { return std::string("server-1"); };
  return options;
}

std::vector<MappedCall> Map(SegmentEndpoint endpoint, const std::string& body,
                            const SegmentMappingOptions& options = Options()) {
  auto calls = MapSegmentBody(endpoint, body, options);
  EXPECT_TRUE(calls.ok()) << calls.status().ToString();
  return calls.ok() ? *calls : std::vector<MappedCall>{};
}

TEST(IsoInstant, ZonesAndFractionsNameTheSameSecond) {
  const int64_t utc = *ParseTimestamp("2026-12-04 18:30:00");
  EXPECT_EQ(ParseIsoInstant("2026-12-04T18:30:00Z"), utc);
  EXPECT_EQ(ParseIsoInstant("2026-12-04T18:30:00.999Z"), utc);
  EXPECT_EQ(ParseIsoInstant("2026-12-04T19:30:00.5+01:00"), utc);
  EXPECT_EQ(ParseIsoInstant("2026-12-04T13:00:00-0530"), utc);
  EXPECT_EQ(ParseIsoInstant("2026-12-05T00:00:00+05:30"), utc);
  for (const char* bad : {"2026-12-04T18:30:00", "2026-12-04 18:30:00Z", "2026-12-04T18:30:00.Z",
                          "2026-12-04T18:30:00+1:00", "2026-12-04T18:30:00+24:00", "2026-02-30T00:00:00Z", ""}) {
    EXPECT_FALSE(ParseIsoInstant(bad).has_value()) << bad;
  }
}

TEST(SegmentCalls, ProductViewedAndAddedAreViewsAndCartAdds) {
  const auto calls = Map(SegmentEndpoint::kBatch, R"({"batch":[
    {"type":"track","event":"Product Viewed","messageId":"m1","anonymousId":"a1","userId":"u1",
     "timestamp":"2026-12-04T17:00:00.120Z","properties":{"product_id":355908}},
    {"type":"track","event":"Product Added","messageId":"m2","userId":"u1",
     "timestamp":"2026-12-04T17:01:00Z","properties":{"product_id":"p-7"}}]})");
  ASSERT_EQ(calls.size(), 2u);
  ASSERT_EQ(calls[0].outcome, Outcome::kEvents) << calls[0].reason;
  const Event& view = calls[0].events.at(0);
  EXPECT_EQ(view.event_type, EventType::kView);
  EXPECT_EQ(view.item_id, "355908");
  EXPECT_EQ(view.visitor_id, "a1");  // anonymousId first: it survives the login
  EXPECT_EQ(view.timestamp, *ParseTimestamp("2026-12-04 17:00:00"));
  EXPECT_EQ(view.source_id, "segment:m1");
  EXPECT_EQ(view.source_line, 1);
  ASSERT_EQ(calls[1].outcome, Outcome::kEvents) << calls[1].reason;
  EXPECT_EQ(calls[1].events.at(0).event_type, EventType::kAddToCart);
  EXPECT_EQ(calls[1].events.at(0).visitor_id, "u1");
}

TEST(SegmentCalls, AnOrderIsOneTransactionPerProductEachWithItsOwnIdentity) {
  const auto calls = Map(SegmentEndpoint::kTrack, R"({"event":"Order Completed","messageId":"m9",
    "anonymousId":"a1","properties":{"order_id":"o-42","total":30,
    "products":[{"product_id":"p1","price":10},{"product_id":"p2","price":20}]}})");
  ASSERT_EQ(calls.size(), 1u);
  ASSERT_EQ(calls[0].outcome, Outcome::kEvents) << calls[0].reason;
  ASSERT_EQ(calls[0].events.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const Event& event = calls[0].events[i];
    EXPECT_EQ(event.event_type, EventType::kTransaction);
    EXPECT_EQ(event.transaction_id, "o-42");
    EXPECT_EQ(event.item_id, "p" + std::to_string(i + 1));
    EXPECT_EQ(event.source_id, "segment:m9");
    EXPECT_EQ(event.source_line, static_cast<int64_t>(i + 1));
    EXPECT_EQ(event.timestamp, Options().received_at);  // no timestamp: the time it was received
  }
}

TEST(SegmentCalls, AResentCallMapsToTheSameIdentity) {
  const std::string body = R"({"event":"Product Viewed","messageId":"same","anonymousId":"a",
    "properties":{"product_id":"p"}})";
  const auto first = Map(SegmentEndpoint::kTrack, body);
  const auto again = Map(SegmentEndpoint::kTrack, body);
  EXPECT_EQ(first.at(0).events.at(0).source_id, again.at(0).events.at(0).source_id);
  EXPECT_EQ(first.at(0).events.at(0).source_line, again.at(0).events.at(0).source_line);
}

TEST(SegmentCalls, AProductPageIsAViewAndOtherCallsAreUnmapped) {
  const auto calls = Map(SegmentEndpoint::kBatch, R"({"batch":[
    {"type":"page","messageId":"p1","anonymousId":"a","properties":{"path":"/p/9","product_id":"9"}},
    {"type":"page","messageId":"p2","anonymousId":"a","properties":{"path":"/"}},
    {"type":"identify","messageId":"i1","userId":"u","traits":{"email":"x@example.com"}},
    {"type":"track","event":"Checkout Started","messageId":"t1","anonymousId":"a"}]})");
  ASSERT_EQ(calls.size(), 4u);
  ASSERT_EQ(calls[0].outcome, Outcome::kEvents) << calls[0].reason;
  EXPECT_EQ(calls[0].events.at(0).event_type, EventType::kView);
  EXPECT_EQ(calls[0].events.at(0).item_id, "9");
  EXPECT_EQ(calls[1].outcome, Outcome::kUnmapped);
  EXPECT_EQ(calls[1].type, "page");
  EXPECT_EQ(calls[2].outcome, Outcome::kUnmapped);
  EXPECT_EQ(calls[2].type, "identify");
  EXPECT_EQ(calls[3].outcome, Outcome::kUnmapped);
  EXPECT_EQ(calls[3].reason, "track \"Checkout Started\"");
}

TEST(SegmentCalls, TheContextWinsOverTheUserAgent) {
  SegmentMappingOptions options = Options();
  options.classify_user_agent = [](std::string_view agent) {
    return agent == "UA" ? UserAgentFacts{"desktop", "Mobile Safari", "Mac OS X"} : UserAgentFacts{};
  };
  const auto calls = Map(SegmentEndpoint::kTrack, R"({"event":"Product Viewed","messageId":"m","anonymousId":"a",
    "properties":{"product_id":"p"},"context":{"userAgent":"UA","device":{"type":"Tablet"},"os":{"name":"iPadOS"}}})",
                         options);
  const Event& event = calls.at(0).events.at(0);
  EXPECT_EQ(event.device, "tablet");
  EXPECT_EQ(event.browser, "Mobile Safari");
  EXPECT_EQ(event.os, "iPadOS");
  // A platform in device.type ("ios", as Segment's mobile libraries send) is no form factor.
  const auto platform = Map(SegmentEndpoint::kTrack, R"({"event":"Product Viewed","messageId":"m","anonymousId":"a",
    "properties":{"product_id":"p"},"context":{"userAgent":"UA","device":{"type":"ios"}}})",
                            options);
  EXPECT_EQ(platform.at(0).events.at(0).device, "desktop");
}

TEST(SegmentCalls, ACallWithoutAMessageIdGetsAFreshIdentity) {
  const auto calls = Map(SegmentEndpoint::kTrack,
                         R"({"event":"Product Viewed","anonymousId":"a","properties":{"product_id":"p"}})");
  EXPECT_EQ(calls.at(0).events.at(0).source_id, "segment:server-1");
}

TEST(SegmentCalls, BadCallsAreRefusedOneByOneWithTheirReason) {
  const auto calls = Map(SegmentEndpoint::kBatch, R"({"batch":[
    {"type":"track","event":"Product Viewed","messageId":"1","properties":{"product_id":"p"}},
    {"type":"track","event":"Product Viewed","messageId":"2","anonymousId":"a","properties":{}},
    {"type":"track","event":"Product Viewed","messageId":"3","anonymousId":"a","timestamp":"yesterday",
     "properties":{"product_id":"p"}},
    {"type":"track","event":"Order Completed","messageId":"4","anonymousId":"a","properties":{"products":[]}},
    {"type":"track","event":"Order Completed","messageId":"5","anonymousId":"a",
     "properties":{"order_id":"o","products":[{"product_id":"p"},{"sku":"s"}]}},
    {"event":"Product Viewed"},
    {"type":"track","event":"Product Viewed","messageId":"7","anonymousId":"a",
     "timestamp":"1970-01-02T00:00:00Z","properties":{"product_id":"p"}},
    {"type":"track","event":"Product Viewed","messageId":"8","anonymousId":"a","properties":{"product_id":"ok"}}]})");
  ASSERT_EQ(calls.size(), 8u);
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(calls[i].outcome, Outcome::kInvalid) << i;
    EXPECT_TRUE(calls[i].events.empty()) << i;
  }
  EXPECT_EQ(calls[0].reason, "a call needs an anonymousId or a userId");
  EXPECT_EQ(calls[1].reason, "properties.product_id must be a string or an integer");
  EXPECT_NE(calls[2].reason.find("ISO 8601"), std::string::npos);
  EXPECT_NE(calls[3].reason.find("order_id"), std::string::npos);
  EXPECT_EQ(calls[4].reason, "properties.products[1].product_id must be a string or an integer");
  EXPECT_NE(calls[5].reason.find("\"type\""), std::string::npos);
  EXPECT_NE(calls[6].reason.find("outside"), std::string::npos);
  EXPECT_EQ(calls[7].outcome, Outcome::kEvents);
}

TEST(SegmentCalls, ABodyThatIsNoSegmentRequestIsRefusedWhole) {
  for (const char* body : {"", "{", "[1]", "\"track\"", R"({"batch":{}})", "{\"a\":\"\xff\"}"}) {
    const auto endpoint = std::string_view(body).find("batch") != std::string_view::npos ? SegmentEndpoint::kBatch
                                                                                          : SegmentEndpoint::kTrack;
    const auto calls = MapSegmentBody(endpoint, body, Options());
    EXPECT_TRUE(calls.status().IsInvalid()) << body;
  }
  EXPECT_FALSE(MapSegmentBody(SegmentEndpoint::kBatch, "{}", Options()).ok());
}

}  // namespace
}  // namespace clickstream::collect
