#include <cstdio>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "event/event.h"
#include "event/fields.h"
#include "event/json_codec.h"
#include "event/landed_schema.h"
#include "event/timestamp.h"

namespace clickstream {
namespace {

TEST(Timestamp, RoundTripsCivilTimes) {
  for (const char* text : {"1970-01-01 00:00:00", "2015-05-03 03:00:04", "2016-02-29 23:59:59", "2000-12-31 12:34:56"}) {
    const auto seconds = ParseTimestamp(text);
    ASSERT_TRUE(seconds) << text;
    EXPECT_EQ(FormatTimestamp(*seconds), text);
  }
  EXPECT_EQ(ParseTimestamp("2015-05-03 03:00:04"), 1430622004);
  EXPECT_EQ(ParseTimestamp("2015-05-03T03:00:04Z"), 1430622004);
}

TEST(Timestamp, RejectsImpossibleValues) {
  for (const char* text : {"", "2015-02-30 00:00:00", "2015-13-01 00:00:00", "2015-05-03 24:00:00",
                           "2015-05-03 10:60:00", "2015/05/03 10:00:00", "2015-05-03", "1430622004000",
                           "2015-05-03 10:00:00+02"}) {
    EXPECT_FALSE(ParseTimestamp(text)) << text;
  }
}

TEST(Timestamp, DatesBeforeTheEpoch) {
  EXPECT_EQ(FormatTimestamp(-1), "1969-12-31 23:59:59");
  EXPECT_EQ(FormatDate(86400 * 365), "1971-01-01");
}

// Parsing and formatting remember the last day; times that hop between days, and a bad date
// that shares nothing but its time with a good one, must never be served the wrong day.
TEST(Timestamp, DayChangesAndBadDatesAfterGoodOnesAreNeverCached) {
  const std::vector<std::pair<std::string, int64_t>> times = {
      {"2015-05-03 23:59:59", 1430697599}, {"2015-05-04 00:00:00", 1430697600},
      {"2015-05-03 12:00:00", 1430654400}, {"2015-05-03 12:00:01", 1430654401},
      {"2016-02-29 00:00:00", 1456704000}, {"2015-05-04 00:00:00", 1430697600},
  };
  for (int round = 0; round < 2; ++round) {
    for (const auto& [text, seconds] : times) {
      EXPECT_EQ(ParseTimestamp(text), seconds) << text;
      EXPECT_EQ(FormatTimestamp(seconds), text);
    }
  }
  EXPECT_TRUE(ParseTimestamp("2016-02-29 00:00:00"));
  EXPECT_FALSE(ParseTimestamp("2015-02-29 00:00:00"));
  EXPECT_FALSE(ParseTimestamp("2015-02-29 00:00:00"));
  EXPECT_EQ(FormatTimestamp(-1), "1969-12-31 23:59:59");
  EXPECT_EQ(FormatTimestamp(0), "1970-01-01 00:00:00");
}

TEST(Utf8, AcceptsWellFormedAndRejectsBroken) {
  EXPECT_TRUE(IsValidUtf8("Samsung Internet"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9b\x92"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // past U+10FFFF
}

RawEvent GoodRaw() {
  RawEvent raw;
  raw.source_id = "0123456789abcdef0123456789abcdef";
  raw.source_line = "2";
  raw.timestamp = "2015-06-01 12:00:00";
  raw.visitor_id = "42";
  raw.event_type = "view";
  raw.item_id = "7";
  raw.device = "mobile";
  raw.browser = "Safari";
  raw.os = "iOS";
  return raw;
}

TEST(BuildEvent, NormalisesBlanksAndCase) {
  RawEvent raw = GoodRaw();
  raw.event_type = " AddToCart ";
  raw.device = "Mobile\r";
  raw.visitor_id = " 42 ";
  Event event;
  ASSERT_TRUE(BuildEvent(raw, &event).ok());
  EXPECT_EQ(event.event_type, EventType::kAddToCart);
  EXPECT_EQ(event.device, "mobile");
  EXPECT_EQ(event.browser, "Safari");
  EXPECT_EQ(event.visitor_id, "42");
}

struct BadCase {
  const char* what;
  void (*spoil)(RawEvent&);
  const char* reason;
};

TEST(BuildEvent, NamesTheReasonForEachKindOfBadEvent) {
  const BadCase cases[] = {
      {"no timestamp", [](RawEvent& r) { r.timestamp = ""; }, "missing timestamp"},
      {"bad timestamp", [](RawEvent& r) { r.timestamp = "yesterday"; }, "unparsable timestamp 'yesterday'"},
      {"no visitor", [](RawEvent& r) { r.visitor_id = "  "; }, "missing visitor_id"},
      {"unknown type", [](RawEvent& r) { r.event_type = "click"; }, "unknown event_type 'click'"},
      {"no item", [](RawEvent& r) { r.item_id = ""; }, "missing item_id"},
      {"tx without id", [](RawEvent& r) { r.event_type = "transaction"; }, "missing transaction_id"},
      {"view with tx id", [](RawEvent& r) { r.transaction_id = "9"; }, "transaction_id '9' on a view event"},
      {"bad utf8", [](RawEvent& r) { r.browser = "\xff\xfe"; }, "browser is not valid UTF-8"},
      {"before 2000", [](RawEvent& r) { r.timestamp = "1999-12-31 23:59:59"; }, "outside the accepted range"},
      {"year 7386", [](RawEvent& r) { r.timestamp = "7386-01-01 00:00:00"; }, "outside the accepted range"},
      {"line without id", [](RawEvent& r) { r.source_id = ""; }, "source_line without source_id"},
      {"id without line", [](RawEvent& r) { r.source_line = ""; }, "source_id without source_line"},
      {"line zero", [](RawEvent& r) { r.source_line = "0"; }, "source_line '0' is not a line number"},
      {"line not a number", [](RawEvent& r) { r.source_line = "2x"; }, "source_line '2x' is not a line number"},
  };
  for (const BadCase& bad : cases) {
    RawEvent raw = GoodRaw();
    bad.spoil(raw);
    Event event;
    const arrow::Status status = BuildEvent(raw, &event);
    ASSERT_FALSE(status.ok()) << bad.what;
    EXPECT_NE(status.message().find(bad.reason), std::string::npos) << bad.what << ": " << status.message();
  }
}

// Every text field of the table lands in its Event member, trimmed; device lower-cased.
TEST(BuildEvent, StoresEveryFieldOfTheTable) {
  RawEvent raw = GoodRaw();
  raw.event_type = " Transaction ";
  raw.source_line = " 12\t";
  raw.timestamp = " 2015-06-01 12:00:00 ";
  std::vector<std::string> padded;
  padded.reserve(kEventFieldCount);
  for (const EventFieldSpec& spec : kEventFields) {
    if (spec.text == nullptr) continue;
    padded.push_back(" \t" + std::string(spec.column.name) + "-Value\r\n");
    raw.*spec.raw = padded.back();
  }
  Event event;
  const arrow::Status built = BuildEvent(raw, &event);
  ASSERT_TRUE(built.ok()) << built.ToString();
  for (const EventFieldSpec& spec : kEventFields) {
    if (spec.text == nullptr) continue;
    const std::string value = std::string(spec.column.name) + "-Value";
    EXPECT_EQ(event.*spec.text, spec.rule == FieldRule::kOptionalLowered ? std::string(spec.column.name) + "-value"
                                                                         : value);
  }
  EXPECT_EQ(event.event_type, EventType::kTransaction);
  EXPECT_EQ(event.source_line, 12);
  EXPECT_EQ(event.timestamp, *ParseTimestamp("2015-06-01 12:00:00"));
}

// A row with several faults is named for the first of them in the table's order.
TEST(BuildEvent, NamesTheFirstFaultInTableOrder) {
  const std::vector<std::pair<std::vector<std::pair<std::string_view RawEvent::*, std::string_view>>, std::string>>
      cases = {
          {{{&RawEvent::timestamp, "yesterday"}, {&RawEvent::browser, "\xff"}}, "unparsable timestamp"},
          {{{&RawEvent::os, "\xff"}, {&RawEvent::item_id, ""}}, "missing item_id"},
          {{{&RawEvent::event_type, "click"}, {&RawEvent::visitor_id, ""}}, "missing visitor_id"},
          {{{&RawEvent::timestamp, ""}, {&RawEvent::source_line, "0"}}, "source_line '0' is not a line number"},
          {{{&RawEvent::device, "\xff"}, {&RawEvent::transaction_id, "9"}}, "transaction_id '9' on a view event"},
      };
  for (const auto& [spoils, reason] : cases) {
    RawEvent raw = GoodRaw();
    for (const auto& [field, text] : spoils) raw.*field = text;
    Event event;
    const arrow::Status status = BuildEvent(raw, &event);
    ASSERT_FALSE(status.ok()) << reason;
    EXPECT_EQ(status.message().find(reason), 0u) << reason << ": " << status.message();
  }
}

std::string EscapedJsonString(const std::string& text) {
  std::string quoted = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': quoted += "\\\""; break;
      case '\\': quoted += "\\\\"; break;
      case '\n': quoted += "\\n"; break;
      case '\r': quoted += "\\r"; break;
      case '\t': quoted += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escape[8];
          std::snprintf(escape, sizeof(escape), "\\u%04x", static_cast<unsigned>(c));
          quoted += escape;
        } else {
          quoted += c;
        }
    }
  }
  return quoted + "\"";
}

// The encoder copies short texts a word at a time and checks them in registers: every length
// from 1 to 40, with a byte that needs escaping (or a harmless neighbour of one: space, '#', ']',
// a UTF-8 byte) at every position, must come out exactly as escaped byte by byte.
TEST(JsonCodec, EscapesEveryByteThatNeedsItAtEveryPositionAndLength) {
  Event event;
  event.source_id = "0123456789abcdef0123456789abcdef";
  event.source_line = 7;
  event.timestamp = 1430622004;
  event.event_type = EventType::kView;
  event.item_id = "item";
  for (size_t length = 1; length <= 40; ++length) {
    for (size_t position = 0; position < length; ++position) {
      for (const char special : {'"', '\\', '\n', '\x01', '\x1f', ' ', '#', ']', '!', '\xC3'}) {
        std::string text(length, 'a');
        text[position] = special;
        event.visitor_id = text;
        event.os = text;
        std::string json;
        AppendEventJson(event, &json);
        const std::string expected = EscapedJsonString(text);
        ASSERT_NE(json.find("\"visitor_id\":" + expected + ","), std::string::npos) << json;
        ASSERT_NE(json.find("\"os\":" + expected + "}"), std::string::npos) << json;
      }
    }
  }
}

// The producer's shortcut must write exactly what BuildEvent + AppendEventJson write, and only
// for rows BuildEvent accepts as they are. Every field of a clean row is replaced in turn by
// variants (blanks, case, empty, too long, escapes, bad UTF-8, other timestamp spellings...).
TEST(JsonCodec, NormalFormShortcutWritesWhatTheEventWouldOrDeclines) {
  const std::string long_text(kMaxFieldBytes + 1, 'x');
  const std::vector<std::string> variants = {
      "", " ", "a", " a", "a ", "a\t", "A", "Mobile", "mobile", "view", "View", "addtocart", "transaction",
      "tx_1", "q\"uote", "back\\slash", "new\nline", "caf\xC3\xA9", "bad\xFF", long_text,
      "2015-05-03 03:00:04", "2015-05-03T03:00:04", "2015-05-03 03:00:04Z", " 2015-05-03 03:00:04",
      "2015-02-30 00:00:00", "1999-12-31 23:59:59", "2100-01-01 00:00:00", "1", "0", "01", "17", "-3",
      "123456789012345678", "0123456789abcdef0123456789abcdef"};
  const RawEvent clean{"0123456789abcdef0123456789abcdef", "42", "2015-05-03 03:00:04", "257597", "view",
                       "355908", "", "mobile", "Safari", "iOS"};
  int taken = 0;
  int declined = 0;
  for (const EventFieldSpec& spec : kEventFields) {
    for (const std::string& variant : variants) {
      for (const std::string_view transaction_id : {std::string_view(), std::string_view("tx_9")}) {
        for (const Utf8Check check : {Utf8Check::kPerField, Utf8Check::kKnownValidUtf8}) {
          RawEvent raw = clean;
          raw.transaction_id = transaction_id;
          raw.*spec.raw = variant;
          if (check == Utf8Check::kKnownValidUtf8 && !IsValidUtf8(variant)) continue;  // not a promise to break
          std::string shortcut = "prefix";
          int64_t seconds = -1;
          const bool took = AppendNormalFormEventJson(raw, check, &shortcut, &seconds);
          Event event;
          const arrow::Status built = BuildEvent(raw, &event, check);
          if (!took) {
            EXPECT_EQ(shortcut, "prefix") << spec.column.name << "=" << variant;
            ++declined;
            continue;
          }
          ++taken;
          ASSERT_TRUE(built.ok()) << spec.column.name << "=" << variant << ": " << built.ToString();
          std::string expected = "prefix";
          AppendEventJson(event, &expected);
          EXPECT_EQ(shortcut, expected) << spec.column.name << "=" << variant;
          EXPECT_EQ(seconds, event.timestamp);
        }
      }
    }
  }
  EXPECT_GT(taken, 100);
  EXPECT_GT(declined, 100);
}

TEST(JsonCodec, RoundTripsAnEvent) {
  Event event;
  event.source_id = "abc";
  event.source_line = 17;
  event.timestamp = 1430622004;
  event.visitor_id = "tx\"quoted\\";
  event.event_type = EventType::kTransaction;
  event.item_id = "355908";
  event.transaction_id = "tx_001";
  event.device = "tablet";
  event.browser = "Chrome\n";
  std::string json;
  AppendEventJson(event, &json);
  EXPECT_NE(json.find("\"os\":null"), std::string::npos) << json;

  EventJsonDecoder decoder;
  Event decoded;
  ASSERT_TRUE(decoder.Decode(json, &decoded).ok()) << json;
  EXPECT_EQ(decoded.visitor_id, event.visitor_id);
  EXPECT_EQ(decoded.transaction_id, "tx_001");
  EXPECT_EQ(decoded.timestamp, event.timestamp);
  EXPECT_EQ(decoded.browser, "Chrome");  // trimmed
  EXPECT_EQ(decoded.os, "");
  EXPECT_EQ(decoded.source_id, "abc");
  EXPECT_EQ(decoded.source_line, 17);
}

// A message from another tool has no identity; encoded again (source_id null, source_line 0), it
// must decode to the same event, not be rejected as half an identity.
TEST(JsonCodec, AnEventWithoutIdentityRoundTrips) {
  EventJsonDecoder decoder;
  Event event;
  ASSERT_TRUE(decoder.Decode(R"({"timestamp":"2015-06-01 00:00:00","visitor_id":"1","event_type":"view","item_id":"2"})",
                             &event)
                  .ok());
  std::string json;
  AppendEventJson(event, &json);
  Event again;
  const arrow::Status status = decoder.Decode(json, &again);
  ASSERT_TRUE(status.ok()) << json << " -> " << status.ToString();
  EXPECT_EQ(again.source_id, "");
  EXPECT_EQ(again.source_line, 0);
  EXPECT_EQ(again.visitor_id, "1");
  // A real line still needs its source.
  EXPECT_FALSE(decoder.Decode(R"({"source_line":5,"timestamp":"2015-06-01 00:00:00","visitor_id":"1",)"
                              R"("event_type":"view","item_id":"2"})",
                              &again)
                   .ok());
}

TEST(JsonCodec, AcceptsIntegerIdentifiersAndIgnoresUnknownFields) {
  EventJsonDecoder decoder;
  Event event;
  const std::string json =
      R"({"timestamp":"2015-06-01 00:00:00","visitor_id":257597,"event_type":"VIEW","item_id":1,"extra":[1,2]})";
  ASSERT_TRUE(decoder.Decode(json, &event).ok());
  EXPECT_EQ(event.visitor_id, "257597");
  EXPECT_EQ(event.event_type, EventType::kView);
}

TEST(JsonCodec, RejectsPoisonWithAReason) {
  const std::pair<std::string, std::string> cases[] = {
      {"", "empty message"},
      {"not json", "invalid JSON"},
      {"[1,2]", "not an object"},
      {R"({"timestamp":"2015-06-01 00:00:00","visitor_id":1.5,"event_type":"view","item_id":"1"})",
       "visitor_id is a number"},
      {R"({"timestamp":"2015-06-01 00:00:00","visitor_id":"1","event_type":7,"item_id":"1"})",
       "event_type is a number"},
      {"{\"timestamp\":\"2015-06-01 00:00:00\",\"visitor_id\":\"\xff\",\"event_type\":\"view\",\"item_id\":\"1\"}",
       "not valid UTF-8"},
      {R"({"timestamp":"2015-06-01 00:00:00","event_type":"view","item_id":"1"})", "missing visitor_id"},
  };
  EventJsonDecoder decoder;
  for (const auto& [payload, reason] : cases) {
    Event event;
    const arrow::Status status = decoder.Decode(payload, &event);
    ASSERT_FALSE(status.ok()) << payload;
    EXPECT_NE(status.message().find(reason), std::string::npos) << payload << " -> " << status.message();
  }
}

// The decoder reads the encoder's own layout without a document and leaves everything else to the
// general parser: these messages sit just beside that layout, and each must decode (or fail) exactly
// as the general parser decides.
TEST(JsonCodec, MessagesBesideTheEncodersLayoutDecodeAsAnyJson) {
  Event event;
  event.source_id = "f00d";
  event.source_line = 42;
  event.timestamp = 1430622004;
  event.visitor_id = "7";
  event.item_id = "9";
  std::string layout;
  AppendEventJson(event, &layout);
  const auto replaced = [&layout](std::string_view from, std::string_view to) {
    std::string text = layout;
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
  };
  struct Case {
    std::string payload;
    std::string visitor_id;  // when it decodes
    std::string reason;      // when it fails
  };
  const Case cases[] = {
      {layout, "7", ""},
      {replaced(R"("visitor_id":"7")", R"("visitor_id":"a\"b")"), "a\"b", ""},
      {replaced(R"("visitor_id":"7")", R"("visitor_id":"abcdefghijk\"l")"), "abcdefghijk\"l", ""},
      {replaced(R"("visitor_id":"7")", "\"visitor_id\":\"abcdefghi\tj\""), "", "invalid JSON"},
      {replaced(R"("visitor_id":"7")", R"("visitor_id":"Zürich-Straße-Ålesund")"), "Zürich-Straße-Ålesund", ""},
      {replaced(R"("visitor_id":"7")", R"("visitor_id":-7)"), "-7", ""},
      {replaced(R"("visitor_id":"7")", R"("visitor_id":1234567890123456789)"), "1234567890123456789", ""},
      {replaced(R"("visitor_id":"7")", R"("visitor_id":0)"), "0", ""},
      {replaced(R"("visitor_id":"7")", R"("visitor_id":123456789012345678901)"), "", "visitor_id is a number"},
      {replaced(R"("visitor_id":"7")", R"("visitor_id":07)"), "", "invalid JSON"},
      {replaced(R"("visitor_id":"7")", R"("visitor_id":7.5)"), "", "visitor_id is a number"},
      {replaced(R"("visitor_id":"7")", R"("visitor_id": "7")"), "7", ""},
      {replaced(R"("visitor_id":"7")", "\"visitor_id\":\"7\t\""), "", "invalid JSON"},
      {replaced(R"("visitor_id":"7")", R"("visitor_id":true)"), "", "visitor_id is a boolean"},
      {replaced(R"("visitor_id":"7")", R"("visitor_id":nul)"), "", "invalid JSON"},
      {replaced(R"("source_line":42)", R"("source_line":"42")"), "", "source_line is a string, expected an integer"},
      {replaced(R"("source_line":42)", R"("source_line":0)"), "", "source_line '0' is not a line number"},
      {replaced(R"("os":null)", R"("os":null,"os":"Linux")"), "7", ""},
      {replaced(R"("os":null)", R"("os":null,"extra":1)"), "7", ""},
      {replaced(R"("source_id":"f00d",)", ""), "", "source_line without source_id"},
      {layout + " ", "7", ""},
      {layout + "x", "", "invalid JSON"},
      {layout.substr(0, layout.size() - 1), "", "invalid JSON"},
  };
  EventJsonDecoder decoder;
  for (const Case& c : cases) {
    Event decoded;
    const arrow::Status status = decoder.Decode(c.payload, &decoded);
    if (c.reason.empty()) {
      ASSERT_TRUE(status.ok()) << c.payload << " -> " << status.message();
      EXPECT_EQ(decoded.visitor_id, c.visitor_id) << c.payload;
      EXPECT_EQ(decoded.source_line, 42) << c.payload;
    } else {
      ASSERT_FALSE(status.ok()) << c.payload;
      EXPECT_NE(status.message().find(c.reason), std::string::npos) << c.payload << " -> " << status.message();
    }
  }
}

TEST(BuildEvent, AcceptsTheEdgesOfTheRangeAndNoIdentity) {
  RawEvent raw = GoodRaw();
  Event event;
  raw.timestamp = "2000-01-01 00:00:00";
  EXPECT_TRUE(BuildEvent(raw, &event).ok());
  raw.timestamp = "2099-12-31 23:59:59";
  EXPECT_TRUE(BuildEvent(raw, &event).ok());
  raw.timestamp = "2100-01-01 00:00:00";
  EXPECT_FALSE(BuildEvent(raw, &event).ok());
  raw = GoodRaw();
  raw.source_id = raw.source_line = "";
  ASSERT_TRUE(BuildEvent(raw, &event).ok());  // a message from another tool: the consumer fills it in
  EXPECT_EQ(event.source_id, "");
}

TEST(JsonCodec, WritesTheFieldsInTableOrderWithTheLineAsAnInteger) {
  Event event;
  event.source_id = "f00d";
  event.source_line = 1234567;
  event.timestamp = 1430622004;
  event.visitor_id = "1";
  event.item_id = "2";
  std::string json;
  AppendEventJson(event, &json);
  EXPECT_EQ(json,
            R"({"source_id":"f00d","source_line":1234567,"timestamp":"2015-05-03 03:00:04","visitor_id":"1",)"
            R"("event_type":"view","item_id":"2","transaction_id":null,"device":null,"browser":null,"os":null})");
}

TEST(JsonCodec, EscapesWhatJsonCannotHoldAnywhereInTheText) {
  Event event;
  event.source_id = "f00d";
  event.source_line = 3;
  event.timestamp = 1430622004;
  event.visitor_id = "0123456789abcdef\"";
  event.item_id = std::string("0123456789\x01\\tail", 16);
  event.browser = "Safari on iOS 17";
  std::string json;
  AppendEventJson(event, &json);
  EXPECT_NE(json.find(R"("visitor_id":"0123456789abcdef\"")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("item_id":"0123456789\u0001\\tail")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("browser":"Safari on iOS 17")"), std::string::npos) << json;
  Event decoded;
  EventJsonDecoder decoder;
  ASSERT_TRUE(decoder.Decode(json, &decoded).ok()) << json;
  EXPECT_EQ(decoded.visitor_id, event.visitor_id);
  EXPECT_EQ(decoded.item_id, event.item_id);
}

TEST(JsonCodec, TheLineMustBeAnInteger) {
  EventJsonDecoder decoder;
  Event event;
  const arrow::Status status = decoder.Decode(
      R"({"source_id":"f","source_line":"3","timestamp":"2015-06-01 00:00:00","visitor_id":"1",)"
      R"("event_type":"view","item_id":"1"})",
      &event);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("source_line is a string, expected an integer"), std::string::npos)
      << status.message();
}

TEST(FieldTable, DrivesTheLandedSchema) {
  const auto schema = LandedSchema(DateColumn::kInPath);
  ASSERT_EQ(static_cast<size_t>(schema->num_fields()), kEventFieldCount + kLandingColumns.size());
  for (size_t i = 0; i < kEventFieldCount; ++i) {
    EXPECT_EQ(schema->field(static_cast<int>(i))->name(), kEventFields[i].column.name);
    EXPECT_EQ(schema->field(static_cast<int>(i))->nullable(), kEventFields[i].column.nullable);
  }
  EXPECT_EQ(GeneratorCsvHeader(), "timestamp,visitor_id,event_type,item_id,transaction_id,device,browser,os");
  EXPECT_EQ(RetailRocketCsvHeader(), "timestamp,visitorid,event,itemid,transactionid");
  const std::string json = LandedSchemaJson(DateColumn::kInFile);
  EXPECT_NE(json.find(R"({"name":"source_line","type":"int64","nullable":false,"encoding":"DELTA_BINARY_PACKED"})"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"({"name":"event_date","type":"date32[day]","nullable":false)"), std::string::npos) << json;
}

TEST(LandedBatchBuilder, BuildsTypedColumns) {
  LandedBatchBuilder builder(DateColumn::kInFile);
  Event event;
  event.source_id = "s";
  event.source_line = 2;
  event.timestamp = 1430622004;
  event.visitor_id = "1";
  event.item_id = "2";
  event.device = "mobile";
  ASSERT_TRUE(builder.Append(event, LandingInfo{3, 99, 5}).ok());
  event.event_type = EventType::kTransaction;
  event.transaction_id = "tx_001";
  event.device.clear();
  ASSERT_TRUE(builder.Append(event, LandingInfo{3, 100, 6}).ok());
  auto batch = builder.Finish().ValueOrDie();
  ASSERT_TRUE(batch->ValidateFull().ok());
  EXPECT_EQ(batch->num_rows(), 2);
  EXPECT_TRUE(batch->schema()->Equals(*LandedSchema(DateColumn::kInFile)));
  EXPECT_EQ(batch->GetColumnByName(column::kDevice)->null_count(), 1);
  EXPECT_EQ(batch->GetColumnByName(column::kTransactionId)->null_count(), 1);
  EXPECT_EQ(builder.size(), 0);
  EXPECT_EQ(LandedSchema(DateColumn::kInPath)->GetFieldIndex(column::kEventDate), -1);
}

// Repeated dictionary values are appended by their known index: with more distinct values than
// the builder remembers, across Finish and over more rows than it reserves at once, every row must
// still read back as its own text, and each batch's dictionary hold only its own values.
TEST(LandedBatchBuilder, DictionaryColumnsReadBackAcrossBatches) {
  LandedBatchBuilder builder(DateColumn::kInPath);
  const auto browser_of = [](int row, int batch) {
    return row % 7 == 0 ? std::string() : "browser-" + std::to_string((row * 5 + batch) % 13);
  };
  for (int batch_number = 0; batch_number < 2; ++batch_number) {
    const int rows = batch_number == 0 ? 3000 : 40;
    Event event;
    event.source_id = "s";
    event.timestamp = 1430622004;
    event.visitor_id = event.item_id = "1";
    for (int row = 0; row < rows; ++row) {
      event.source_line = row + 1;
      event.browser = browser_of(row, batch_number);
      ASSERT_TRUE(builder.Append(event, LandingInfo{0, row, row}).ok());
    }
    auto batch = builder.Finish().ValueOrDie();
    ASSERT_TRUE(batch->ValidateFull().ok());
    const auto& browsers = static_cast<const arrow::DictionaryArray&>(*batch->GetColumnByName(column::kBrowser));
    const auto& lines = static_cast<const arrow::Int64Array&>(*batch->GetColumnByName(column::kSourceLine));
    const auto& words = static_cast<const arrow::StringArray&>(*browsers.dictionary());
    ASSERT_EQ(batch->num_rows(), rows);
    for (int row = 0; row < rows; ++row) {
      const std::string expected = browser_of(row, batch_number);
      EXPECT_EQ(lines.Value(row), row + 1);
      if (expected.empty()) {
        EXPECT_TRUE(browsers.IsNull(row)) << row;
      } else {
        ASSERT_TRUE(browsers.IsValid(row)) << row;
        EXPECT_EQ(words.GetView(browsers.GetValueIndex(row)), expected) << "batch " << batch_number << " row " << row;
      }
    }
    std::set<std::string> distinct;
    for (int row = 0; row < rows; ++row) {
      if (!browser_of(row, batch_number).empty()) distinct.insert(browser_of(row, batch_number));
    }
    EXPECT_EQ(static_cast<size_t>(words.length()), distinct.size()) << "batch " << batch_number;
  }
}

}  // namespace
}  // namespace clickstream
