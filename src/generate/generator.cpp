#include "generate/generator.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string_view>

#include "event/time_units.h"
#include "event/timestamp.h"
#include "generate/random.h"
#include "generate/segments.h"

namespace clickstream::generate {

namespace {

constexpr int64_t kSecondsPerHour = 3600;
constexpr int64_t kMaxDays = 36500;

// RetailRocket: 1,407,580 visitors and 235,061 items for 2,756,101 events.
constexpr double kCatalogPerEvent = 0.09;  // catalog size; the heavy tail leaves ~95% of it viewed
constexpr double kItemPopularityExponent = 0.8;

// Traffic rhythm. Weekdays from Monday: shoppers browse most early in the week, least on Saturday.
constexpr std::array<int64_t, 7> kWeekdayWeight = {106, 108, 105, 100, 94, 86, 93};
// Hours of the day (UTC): a quiet night, a long afternoon, an evening peak.
constexpr std::array<int64_t, 24> kHourWeight = {30, 20, 14, 11, 10, 13, 22, 38, 55, 66, 72, 75,
                                                 76, 75, 73, 72, 74, 80, 88, 94, 96, 88, 70, 48};

// Sessions. Most visits bounce after one view; the rest browse several items. About 5% of sessions
// are returning visitors, which leaves ~0.5 distinct visitors per event as in RetailRocket.
constexpr double kReturnProbability = 0.05;
constexpr double kRememberNewVisitorProbability = 0.5;
constexpr size_t kReturningPoolSize = size_t{1} << 16;
constexpr double kBounceProbability = 0.64;
constexpr double kReturningBounceProbability = 0.45;
constexpr double kNextViewProbability = 0.56;  // each further view after the second
constexpr int kMaxViews = 200;
constexpr double kReviewProbability = 0.2;  // looks again at an item seen earlier in the session
constexpr double kMeanViewGapSeconds = 45;
constexpr double kMaxViewGapSeconds = 600;
constexpr double kMeanCartDelaySeconds = 15;
constexpr double kMaxCartDelaySeconds = 120;
constexpr int64_t kMaxBrowsingSeconds = 3 * 3600;
constexpr size_t kMaxCartItems = 8;
constexpr double kReturningCartBoost = 1.6;  // returning visitors come back to buy

// Per device: how often a view leads to an add-to-cart, and a cart to a purchase. Phones convert a
// little worse than desktops; every browser and OS on the same device converts alike.
struct DeviceBehaviour {
  std::string_view device;
  double cart_per_view;
  double purchase_per_cart;
};
constexpr DeviceBehaviour kDeviceBehaviour[] = {
    {"desktop", 0.0263, 0.350},
    {"mobile", 0.0229, 0.316},
    {"tablet", 0.0249, 0.335},
};

int64_t DayWeight(int64_t day_index, int64_t days, int64_t epoch_day) {
  // 1970-01-01 was a Thursday.
  const int64_t weekday = (epoch_day % 7 + 7 + 3) % 7;
  // A slow swell towards the middle of the range and back, up to +30%.
  const int64_t position = days > 1 ? day_index * 1000 / (days - 1) : 500;
  const int64_t season = 1300 - 300 * (position - 500) * (position - 500) / 250000;
  return kWeekdayWeight[static_cast<size_t>(weekday)] * season;
}

struct Visitor {
  int64_t id = 0;
  uint8_t segment = 0;
};

}  // namespace

class ClickstreamGenerator::Impl {
 public:
  explicit Impl(const GenerateOptions& options)
      : options_(options),
        rng_(options.seed),
        range_start_(options.start_day * kSecondsPerDay),
        range_end_((options.start_day + options.days) * kSecondsPerDay),
        bug_start_(options.bug_start_day * kSecondsPerDay),
        window_count_(options.days * 24),
        visitor_ids_(static_cast<uint64_t>(std::max<int64_t>(options.events, 1)), options.seed ^ 0x7669736974ULL),
        catalog_size_(std::max<int64_t>(1, std::llround(static_cast<double>(options.events) * kCatalogPerEvent))),
        item_ids_(static_cast<uint64_t>(catalog_size_) * 2, options.seed ^ 0x6974656dULL) {
    for (int64_t day = 0; day < options_.days; ++day) {
      total_weight_ += DayWeight(day, options_.days, options_.start_day + day) * HourWeightSum();
    }
    const auto segments = Segments();
    for (const Segment& segment : segments) {
      segment_weight_total_ += segment.weight;
      segment_cumulative_.push_back(segment_weight_total_);
      segment_bugged_.push_back(options_.bug == Bug::kSafariIos && IsSafariOnIos(segment));
      size_t behaviour = 0;
      while (kDeviceBehaviour[behaviour].device != segment.device) ++behaviour;
      segment_behaviour_.push_back(behaviour);
    }
    zipf_span_ = std::pow(static_cast<double>(catalog_size_) + 1, 1 - kItemPopularityExponent) - 1;
    returning_.reserve(kReturningPoolSize);
  }

  bool NextBatch(std::vector<GeneratedEvent>* batch) {
    batch->clear();
    if (window_ >= window_count_) return false;
    FillWindow(window_);
    ++window_;
    // Sessions near the end of the range are moved back to finish inside it, so events later than
    // range_end_ - kMaxSessionSeconds are final only once the last window is done.
    const int64_t bound = window_ < window_count_
                              ? std::min(range_start_ + window_ * kSecondsPerHour, range_end_ - kMaxSessionSeconds)
                              : std::numeric_limits<int64_t>::max();
    Emit(bound, batch);
    return true;
  }

 private:
  static int64_t HourWeightSum() {
    int64_t sum = 0;
    for (int64_t weight : kHourWeight) sum += weight;
    return sum;
  }

  // Splits --events over the hourly windows in proportion to their weight; the running floor makes
  // the budgets add up to exactly --events.
  int64_t WindowBudget(int64_t window) {
    const int64_t day = window / 24;
    const int64_t weight = DayWeight(day, options_.days, options_.start_day + day) * kHourWeight[window % 24];
    const auto share = [&](unsigned __int128 cumulative) {
      return static_cast<int64_t>(static_cast<unsigned __int128>(options_.events) * cumulative /
                                  static_cast<unsigned __int128>(total_weight_));
    };
    const int64_t before = share(static_cast<unsigned __int128>(cumulative_weight_));
    cumulative_weight_ += weight;
    return share(static_cast<unsigned __int128>(cumulative_weight_)) - before;
  }

  void FillWindow(int64_t window) {
    const int64_t window_start = range_start_ + window * kSecondsPerHour;
    int64_t remaining = WindowBudget(window);
    while (remaining > 0) {
      session_.clear();
      GenerateSession(window_start + static_cast<int64_t>(rng_.Below(kSecondsPerHour)));
      // The last session of a window is cut short so the total is exact; a prefix of a session is
      // still a valid session (a purchase never precedes its add-to-cart).
      if (static_cast<int64_t>(session_.size()) > remaining) session_.resize(static_cast<size_t>(remaining));
      const int64_t overshoot = session_.back().timestamp - (range_end_ - 1);
      for (GeneratedEvent& event : session_) {
        if (overshoot > 0) event.timestamp -= overshoot;
        event.sequence = next_sequence_++;
        pending_.push_back(event);
      }
      remaining -= static_cast<int64_t>(session_.size());
    }
  }

  void Emit(int64_t bound, std::vector<GeneratedEvent>* batch) {
    std::sort(pending_.begin(), pending_.end(), [](const GeneratedEvent& a, const GeneratedEvent& b) {
      return a.timestamp != b.timestamp ? a.timestamp < b.timestamp : a.sequence < b.sequence;
    });
    const auto end = std::partition_point(pending_.begin(), pending_.end(),
                                          [bound](const GeneratedEvent& e) { return e.timestamp < bound; });
    batch->assign(pending_.begin(), end);
    pending_.erase(pending_.begin(), end);
  }

  Visitor NextVisitor(bool* returning) {
    *returning = !returning_.empty() && rng_.Chance(kReturnProbability);
    Visitor visitor;
    if (*returning) {
      visitor = returning_[rng_.Below(returning_.size())];
      // Every visit adds another copy to the pool, so frequent visitors become more frequent: a few
      // visitors come often, most come once.
      Remember(visitor);
      return visitor;
    }
    visitor.id = static_cast<int64_t>(visitor_ids_(new_visitors_++));
    visitor.segment = PickSegment();
    if (rng_.Chance(kRememberNewVisitorProbability)) Remember(visitor);
    return visitor;
  }

  void Remember(const Visitor& visitor) {
    if (returning_.size() < kReturningPoolSize) {
      returning_.push_back(visitor);
    } else {
      returning_[rng_.Below(kReturningPoolSize)] = visitor;
    }
  }

  uint8_t PickSegment() {
    const double target = rng_.Uniform() * segment_weight_total_;
    size_t index = 0;
    while (index + 1 < segment_cumulative_.size() && segment_cumulative_[index] <= target) ++index;
    return static_cast<uint8_t>(index);
  }

  // Heavy-tailed popularity: the rank follows a continuous power law (inverse-CDF draw), and the
  // rank is scattered to an item id so that popular items are not the small numbers.
  int64_t PickItem() {
    const double x = std::pow(zipf_span_ * rng_.Uniform() + 1, 1 / (1 - kItemPopularityExponent));
    const int64_t rank = std::clamp<int64_t>(static_cast<int64_t>(x) - 1, 0, catalog_size_ - 1);
    return static_cast<int64_t>(item_ids_(static_cast<uint64_t>(rank)));
  }

  int SessionViews(bool returning) {
    if (rng_.Chance(returning ? kReturningBounceProbability : kBounceProbability)) return 1;
    int views = 2;
    while (views < kMaxViews && rng_.Chance(kNextViewProbability)) ++views;
    return views;
  }

  int64_t Delay(double mean, double cap) { return 1 + static_cast<int64_t>(std::min(rng_.Exponential(mean), cap)); }

  void Add(int64_t timestamp, const Visitor& visitor, EventType type, int64_t item, int64_t transaction_id) {
    GeneratedEvent event;
    event.timestamp = timestamp;
    event.visitor_id = visitor.id;
    event.item_id = item;
    event.transaction_id = transaction_id;
    event.type = type;
    event.segment = visitor.segment;
    session_.push_back(event);
  }

  // One visit: views, maybe add-to-carts, maybe a purchase of the whole cart at the end. Times only
  // move forward within a session, and it ends within kMaxSessionSeconds of its start.
  void GenerateSession(int64_t start) {
    bool returning = false;
    const Visitor visitor = NextVisitor(&returning);
    const DeviceBehaviour& behaviour = kDeviceBehaviour[segment_behaviour_[visitor.segment]];
    const double cart_probability = behaviour.cart_per_view * (returning ? kReturningCartBoost : 1.0);
    const int views = SessionViews(returning);
    viewed_.clear();
    cart_.clear();
    int64_t now = start;
    for (int view = 0; view < views && now - start < kMaxBrowsingSeconds; ++view) {
      const bool review = !viewed_.empty() && rng_.Chance(kReviewProbability);
      const int64_t item = review ? viewed_[rng_.Below(viewed_.size())] : PickItem();
      Add(now, visitor, EventType::kView, item, -1);
      if (!review) viewed_.push_back(item);
      if (rng_.Chance(cart_probability) && cart_.size() < kMaxCartItems &&
          std::find(cart_.begin(), cart_.end(), item) == cart_.end()) {
        now += Delay(kMeanCartDelaySeconds, kMaxCartDelaySeconds);
        Add(now, visitor, EventType::kAddToCart, item, -1);
        cart_.push_back(item);
      }
      now += Delay(kMeanViewGapSeconds, kMaxViewGapSeconds);
    }
    if (cart_.empty()) return;
    bool purchase = rng_.Chance(behaviour.purchase_per_cart);
    // Drawn whether or not the bug applies, so the bug changes nothing but the lost purchases.
    const bool lost_at_checkout = rng_.Chance(options_.bug_severity);
    if (purchase && segment_bugged_[visitor.segment] && now >= bug_start_ && lost_at_checkout) purchase = false;
    if (!purchase) return;
    const int64_t transaction_id = next_transaction_id_++;
    for (int64_t item : cart_) Add(now, visitor, EventType::kTransaction, item, transaction_id);
  }

  const GenerateOptions options_;
  Rng rng_;
  const int64_t range_start_;
  const int64_t range_end_;
  const int64_t bug_start_;
  const int64_t window_count_;
  int64_t window_ = 0;
  int64_t total_weight_ = 0;
  int64_t cumulative_weight_ = 0;

  std::vector<double> segment_cumulative_;
  double segment_weight_total_ = 0;
  std::vector<bool> segment_bugged_;
  std::vector<size_t> segment_behaviour_;

  ScatterPermutation visitor_ids_;
  uint64_t new_visitors_ = 0;
  std::vector<Visitor> returning_;

  const int64_t catalog_size_;
  ScatterPermutation item_ids_;
  double zipf_span_ = 0;

  int64_t next_transaction_id_ = 0;
  uint64_t next_sequence_ = 0;

  // Scratch for the session being built, and the events not yet handed out.
  std::vector<GeneratedEvent> session_;
  std::vector<int64_t> viewed_;
  std::vector<int64_t> cart_;
  std::vector<GeneratedEvent> pending_;
};

ClickstreamGenerator::ClickstreamGenerator(const GenerateOptions& options) : impl_(std::make_unique<Impl>(options)) {}
ClickstreamGenerator::~ClickstreamGenerator() = default;

bool ClickstreamGenerator::NextBatch(std::vector<GeneratedEvent>* batch) { return impl_->NextBatch(batch); }

arrow::Result<GenerateOptions> ResolveGenerateOptions(const GenerateFlags& flags) {
  GenerateOptions options;
  if (flags.events < 0) {
    return arrow::Status::Invalid("--events must be zero or more, got ", flags.events);
  }
  options.events = flags.events;
  options.seed = flags.seed;
  const auto start_day = ParseDate(flags.start_date);
  if (!start_day) {
    return arrow::Status::Invalid("--start-date: '", flags.start_date, "' is not a date; expected YYYY-MM-DD");
  }
  options.start_day = *start_day;
  if (flags.days < 1 || flags.days > kMaxDays) {
    return arrow::Status::Invalid("--days must be between 1 and ", kMaxDays, ", got ", flags.days,
                                  " (the range would end before it starts)");
  }
  options.days = flags.days;
  if (flags.bug == "safari-ios") {
    options.bug = Bug::kSafariIos;
  } else if (flags.bug == "none") {
    options.bug = Bug::kNone;
  } else {
    return arrow::Status::Invalid("--bug: unknown bug '", flags.bug, "'; expected safari-ios or none");
  }
  if (!(flags.bug_severity >= 0.0 && flags.bug_severity <= 1.0)) {
    return arrow::Status::Invalid("--bug-severity must be between 0 and 1, got ", flags.bug_severity);
  }
  options.bug_severity = flags.bug_severity;
  const int64_t last_day = options.start_day + options.days - 1;
  if (flags.bug_start.empty()) {
    options.bug_start_day =
        options.start_day + std::llround(static_cast<double>(options.days - 1) * kDefaultBugStartFraction);
    return options;
  }
  const auto bug_start = ParseDate(flags.bug_start);
  if (!bug_start) {
    return arrow::Status::Invalid("--bug-start: '", flags.bug_start, "' is not a date; expected YYYY-MM-DD");
  }
  if (*bug_start < options.start_day || *bug_start > last_day) {
    return arrow::Status::Invalid("--bug-start ", flags.bug_start, " is outside the generated range ",
                                  flags.start_date, " .. ", FormatDate(last_day * kSecondsPerDay));
  }
  options.bug_start_day = *bug_start;
  return options;
}

}  // namespace clickstream::generate
