// Counters, gauges and histograms, and their Prometheus text exposition. The command that runs
// owns one Registry and hands it to its stage; the handles are cheap to copy and safe to update
// from any thread. prometheus-cpp is the store and the serializer; no module but
// this one sees it.
//
// Naming follows Prometheus: a clickstream_ prefix, _total on counters, base units (_seconds,
// _bytes). Labels are for topic, partition, sink and a few bounded sets (a reason code), never for
// anything that grows with the input.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace clickstream::metrics {

using Labels = std::map<std::string, std::string>;

// A monotonic count. A default-constructed handle counts nothing.
class Counter {
 public:
  Counter() = default;
  void Add(double amount = 1) const;
  double Value() const;

 private:
  friend class Registry;
  explicit Counter(prometheus::Counter* counter) : counter_(counter) {}
  prometheus::Counter* counter_ = nullptr;
};

class Gauge {
 public:
  Gauge() = default;
  void Set(double value) const;
  double Value() const;

 private:
  friend class Registry;
  friend class GaugeFamily;
  explicit Gauge(prometheus::Gauge* gauge) : gauge_(gauge) {}
  prometheus::Gauge* gauge_ = nullptr;
};

class Histogram {
 public:
  Histogram() = default;
  void Observe(double value) const;
  // Adds many observations at once: `bucket_counts` has one count per bucket bound plus one for
  // +Inf (non-cumulative), `sum` is the sum of the values.
  void ObserveMany(const std::vector<double>& bucket_counts, double sum) const;

 private:
  friend class Registry;
  explicit Histogram(prometheus::Histogram* histogram) : histogram_(histogram) {}
  prometheus::Histogram* histogram_ = nullptr;
};

// A gauge with a label whose values come and go (a partition assigned, then revoked): each series
// is removed when its value stops meaning anything, so a scrape never shows a stale partition.
class GaugeFamily {
 public:
  GaugeFamily() = default;
  Gauge Add(const Labels& labels) const;
  void Remove(Gauge gauge) const;

 private:
  friend class Registry;
  explicit GaugeFamily(prometheus::Family<prometheus::Gauge>* family) : family_(family) {}
  prometheus::Family<prometheus::Gauge>* family_ = nullptr;
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Asking twice for a name with the same labels returns the same series.
  Counter AddCounter(const std::string& name, const std::string& help, const Labels& labels);
  Gauge AddGauge(const std::string& name, const std::string& help, const Labels& labels);
  GaugeFamily AddGaugeFamily(const std::string& name, const std::string& help);
  Histogram AddHistogram(const std::string& name, const std::string& help, const Labels& labels,
                         const std::vector<double>& bucket_bounds);

  // Every series in the text exposition format, version 0.0.4.
  std::string Exposition() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
};

// Bucket bounds for durations from a millisecond to about a minute and a half.
std::vector<double> DurationBuckets();

}  // namespace clickstream::metrics
