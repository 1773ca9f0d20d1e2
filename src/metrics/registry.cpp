#include "metrics/registry.h"

#include <sstream>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace clickstream::metrics {

void Counter::Add(double amount) const {
  if (counter_ != nullptr && amount > 0) counter_->Increment(amount);
}

double Counter::Value() const { return counter_ != nullptr ? counter_->Value() : 0; }

void Gauge::Set(double value) const {
  if (gauge_ != nullptr) gauge_->Set(value);
}

double Gauge::Value() const { return gauge_ != nullptr ? gauge_->Value() : 0; }

void Histogram::Observe(double value) const {
  if (histogram_ != nullptr) histogram_->Observe(value);
}

void Histogram::ObserveMany(const std::vector<double>& bucket_counts, double sum) const {
  if (histogram_ != nullptr) histogram_->ObserveMultiple(bucket_counts, sum);
}

Gauge GaugeFamily::Add(const Labels& labels) const {
  return family_ != nullptr ? Gauge(&family_->Add(labels)) : Gauge();
}

void GaugeFamily::Remove(Gauge gauge) const {
  if (family_ != nullptr && gauge.gauge_ != nullptr) family_->Remove(gauge.gauge_);
}

Registry::Registry() : registry_(std::make_shared<prometheus::Registry>()) {}

Registry::~Registry() = default;

// prometheus-cpp hands out the existing family when a name is registered again with the same help
// and type, which is what lets two parts of the process share a family.
Counter Registry::AddCounter(const std::string& name, const std::string& help, const Labels& labels) {
  auto& family = prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
  return Counter(&family.Add(labels));
}

Gauge Registry::AddGauge(const std::string& name, const std::string& help, const Labels& labels) {
  auto& family = prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
  return Gauge(&family.Add(labels));
}

GaugeFamily Registry::AddGaugeFamily(const std::string& name, const std::string& help) {
  return GaugeFamily(&prometheus::BuildGauge().Name(name).Help(help).Register(*registry_));
}

Histogram Registry::AddHistogram(const std::string& name, const std::string& help, const Labels& labels,
                                 const std::vector<double>& bucket_bounds) {
  auto& family = prometheus::BuildHistogram().Name(name).Help(help).Register(*registry_);
  return Histogram(&family.Add(labels, bucket_bounds));
}

std::string Registry::Exposition() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

std::vector<double> DurationBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 90};
}

}  // namespace clickstream::metrics
