// Segment's HTTP tracking API mapped onto THE clickstream event (event/event.h): which calls become
// which events, with what identity, so that `collect` can acknowledge a tracker's request and
// `consume` lands what it produced unchanged.
//
// The mapping (README, "Collecting live events"):
//   track "Product Viewed"  -> view        item = properties.product_id
//   track "Product Added"   -> addtocart   item = properties.product_id
//   track "Order Completed" -> transaction one event per properties.products[], transaction =
//                                          properties.order_id, item = that product's product_id
//   page / screen with properties.product_id -> view of that item (a product page)
// Every other call (identify, group, alias, other track names, pages without a product) is
// unmapped: counted by its type and dropped, since no event type holds it.
//
// The visitor is anonymousId, else userId: analytics libraries send the same anonymousId before and
// after a login, so a visitor's views and purchase stay one visitor when the purchase needs an
// account. The time is the call's `timestamp` (set by the tracker), else the time it was received.
// The identity is source_id "segment:<messageId>" and source_line the product's 1-based position
// (1 for single events): a tracker that resends a call after a timeout resends its messageId, so
// the resent events share (source_id, source_line) with the first ones, the dedupe key of every
// landed event.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>

#include "event/event.h"

namespace clickstream::collect {

// The endpoint a body was posted to: a single call's type, or /v1/batch.
enum class SegmentEndpoint { kTrack, kPage, kScreen, kIdentify, kGroup, kAlias, kBatch };

// What the user agent says of the device, the browser and the OS; empty where it says nothing.
struct UserAgentFacts {
  std::string device;  // desktop, mobile, tablet
  std::string browser;
  std::string os;
};
using UserAgentClassifier = std::function<UserAgentFacts(std::string_view user_agent)>;

struct MappedCall {
  enum class Outcome { kEvents, kUnmapped, kInvalid };
  Outcome outcome = Outcome::kEvents;
  std::string type;          // the call's type: track, page, identify, …
  std::string reason;        // kInvalid: why the call is refused; kUnmapped: what it was
  std::vector<Event> events;  // kEvents: one or more
};

struct SegmentMappingOptions {
  int64_t received_at = 0;  // seconds since the epoch: the time of calls that carry none
  // Fills device, browser and os from context.userAgent; context.device.type and context.os.name
  // win where present. Unset: only those context fields are used.
  UserAgentClassifier classify_user_agent;
  // For calls without a messageId (Segment's libraries always send one): a fresh identity.
  std::function<std::string()> new_message_id;
};

// Maps one request body. An Invalid status is a body that is no Segment request at all (not JSON,
// not an object, a batch without a `batch` array): the whole request is refused with its message.
// Otherwise one MappedCall per call, in order, each judged alone.
arrow::Result<std::vector<MappedCall>> MapSegmentBody(SegmentEndpoint endpoint, std::string_view body,
                                                      const SegmentMappingOptions& options);

}  // namespace clickstream::collect
