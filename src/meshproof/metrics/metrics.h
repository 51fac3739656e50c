#pragma once
// Counters, gauges and histograms in labelled families, exposed in the Prometheus text format 0.0.4
// (prometheus-grafana.md §3) under Istio's and Envoy's metric names (DESIGN.md §7).
//
// Thread-safety: every method may be called from any thread. Values are atomics; a family's child
// lookup takes a mutex, so the data path looks a child up once and keeps the reference (children
// live as long as their Registry and never move).

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace meshproof::metrics {

// Envoy's default histogram buckets, which Istio's request duration and size histograms use
// (istio-envoy-semantics.md §3.3): 0.5, 1, 5, 10, 25, ..., 3600000.
const std::vector<double>& envoyDefaultBuckets();

class Counter {
public:
  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double delta);
  double value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<double> value_{0.0};
};

// Observations counted into fixed upper bounds (a value equal to a bound counts in that bucket, as
// Prometheus' `le` says), plus sum and count.
class Histogram {
public:
  explicit Histogram(std::shared_ptr<const std::vector<double>> bounds);

  void observe(double value);

  struct Snapshot {
    std::vector<double> bounds;       // upper bounds, increasing, without +Inf
    std::vector<uint64_t> cumulative; // bounds.size() + 1 entries; the last is the +Inf bucket
    double sum = 0;
    uint64_t count = 0;
  };
  // A consistent-enough copy: count equals the +Inf bucket (both are derived from the buckets).
  Snapshot snapshot() const;

private:
  std::shared_ptr<const std::vector<double>> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_; // non-cumulative, bounds_->size() + 1
  std::atomic<double> sum_{0.0};
};

enum class Type { Counter, Gauge, Histogram };

// A metric name with its help, type and label names, and one child per distinct label-value tuple.
template <typename T>
class Family {
public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::shared_ptr<const std::vector<double>> bounds = nullptr);

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& labelNames() const { return label_names_; }

  // The child for these label values (in label-name order), created on first use. The reference
  // stays valid for the family's lifetime. The number of values must equal labelNames().size().
  T& with(const std::vector<std::string>& values);
  T& with(std::initializer_list<std::string_view> values);

  // Calls fn(values, child) for every child, in label-value order.
  template <typename Fn>
  void forEach(Fn&& fn) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [values, child] : children_) {
      fn(values, *child);
    }
  }

private:
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  std::shared_ptr<const std::vector<double>> bounds_;
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
};

// Owns families and renders them all. Registering a name twice returns the existing family when
// type and labels agree; otherwise it is a programming error (asserts).
class Registry {
public:
  Family<Counter>& counter(const std::string& name, const std::string& help,
                           std::vector<std::string> label_names = {});
  Family<Gauge>& gauge(const std::string& name, const std::string& help,
                       std::vector<std::string> label_names = {});
  Family<Histogram>& histogram(const std::string& name, const std::string& help,
                               std::vector<std::string> label_names,
                               std::vector<double> bounds = envoyDefaultBuckets());

  // The Prometheus text format 0.0.4: families in registration order, each with HELP and TYPE,
  // children in label-value order, histogram buckets cumulative and ending with le="+Inf".
  std::string expose() const;

  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

private:
  struct Entry {
    Type type;
    void* family; // Family<Counter|Gauge|Histogram>*, owned by the deques below
  };
  Entry* find(const std::string& name);

  mutable std::mutex mutex_;
  std::vector<std::pair<std::string, Entry>> order_;
  std::deque<Family<Counter>> counters_;
  std::deque<Family<Gauge>> gauges_;
  std::deque<Family<Histogram>> histograms_;
};

// Text-format helpers, shared by the exposition and its parser.
// Escapes a label value: backslash, double quote and newline.
std::string escapeLabelValue(std::string_view value);
// Escapes HELP text: backslash and newline.
std::string escapeHelp(std::string_view help);
// A sample value as Go prints it: shortest round-trip form, "+Inf", "-Inf", "NaN".
std::string formatValue(double value);
// True for [a-zA-Z_:][a-zA-Z0-9_:]* (metric) and [a-zA-Z_][a-zA-Z0-9_]* (label).
bool isValidMetricName(std::string_view name);
bool isValidLabelName(std::string_view name);

} // namespace meshproof::metrics
