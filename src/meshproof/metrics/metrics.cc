#include "meshproof/metrics/metrics.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <cmath>

namespace meshproof::metrics {
namespace {

void addDouble(std::atomic<double>& target, double delta) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + delta, std::memory_order_relaxed)) {
  }
}

void appendLabels(std::string& out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) {
    return;
  }
  out += '{';
  bool first = true;
  for (size_t i = 0; i < names.size(); ++i) {
    out += first ? "" : ",";
    first = false;
    out += names[i];
    out += "=\"";
    out += escapeLabelValue(values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    out += first ? "" : ",";
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

void appendHeader(std::string& out, const std::string& name, const std::string& help,
                  std::string_view type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += escapeHelp(help);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

} // namespace

const std::vector<double>& envoyDefaultBuckets() {
  static const std::vector<double> kBuckets{0.5,   1,      5,      10,      25,     50,    100,
                                            250,   500,    1000,   2500,    5000,   10000, 30000,
                                            60000, 300000, 600000, 1800000, 3600000};
  return kBuckets;
}

void Gauge::add(double delta) {
  addDouble(value_, delta);
}

Histogram::Histogram(std::shared_ptr<const std::vector<double>> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_->size() + 1)) {}

void Histogram::observe(double value) {
  const auto& b = *bounds_;
  const size_t index = static_cast<size_t>(std::lower_bound(b.begin(), b.end(), value) - b.begin());
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  addDouble(sum_, value);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = *bounds_;
  s.cumulative.resize(bounds_->size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

template <typename T>
Family<T>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                  std::shared_ptr<const std::vector<double>> bounds)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)),
      bounds_(std::move(bounds)) {}

template <typename T>
T& Family<T>::with(const std::vector<std::string>& values) {
  assert(values.size() == label_names_.size());
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = children_.find(values);
  if (it == children_.end()) {
    if constexpr (std::is_same_v<T, Histogram>) {
      it = children_.emplace(values, std::make_unique<T>(bounds_)).first;
    } else {
      it = children_.emplace(values, std::make_unique<T>()).first;
    }
  }
  return *it->second;
}

template <typename T>
T& Family<T>::with(std::initializer_list<std::string_view> values) {
  std::vector<std::string> v;
  v.reserve(values.size());
  for (std::string_view s : values) {
    v.emplace_back(s);
  }
  return with(v);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Registry::Entry* Registry::find(const std::string& name) {
  for (auto& [n, entry] : order_) {
    if (n == name) {
      return &entry;
    }
  }
  return nullptr;
}

Family<Counter>& Registry::counter(const std::string& name, const std::string& help,
                                   std::vector<std::string> label_names) {
  assert(isValidMetricName(name));
  std::lock_guard<std::mutex> lock(mutex_);
  if (Entry* e = find(name)) {
    assert(e->type == Type::Counter);
    return *static_cast<Family<Counter>*>(e->family);
  }
  counters_.emplace_back(name, help, std::move(label_names));
  order_.push_back({name, {Type::Counter, &counters_.back()}});
  return counters_.back();
}

Family<Gauge>& Registry::gauge(const std::string& name, const std::string& help,
                               std::vector<std::string> label_names) {
  assert(isValidMetricName(name));
  std::lock_guard<std::mutex> lock(mutex_);
  if (Entry* e = find(name)) {
    assert(e->type == Type::Gauge);
    return *static_cast<Family<Gauge>*>(e->family);
  }
  gauges_.emplace_back(name, help, std::move(label_names));
  order_.push_back({name, {Type::Gauge, &gauges_.back()}});
  return gauges_.back();
}

Family<Histogram>& Registry::histogram(const std::string& name, const std::string& help,
                                       std::vector<std::string> label_names,
                                       std::vector<double> bounds) {
  assert(isValidMetricName(name));
  assert(std::is_sorted(bounds.begin(), bounds.end()));
  std::lock_guard<std::mutex> lock(mutex_);
  if (Entry* e = find(name)) {
    assert(e->type == Type::Histogram);
    return *static_cast<Family<Histogram>*>(e->family);
  }
  histograms_.emplace_back(name, help, std::move(label_names),
                           std::make_shared<const std::vector<double>>(std::move(bounds)));
  order_.push_back({name, {Type::Histogram, &histograms_.back()}});
  return histograms_.back();
}

std::string Registry::expose() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  out.reserve(4096);
  for (const auto& item : order_) {
    // Plain references, not a structured binding: lambdas below capture `name` (clang 14 cannot
    // capture structured bindings).
    const std::string& name = item.first;
    const Entry& entry = item.second;
    switch (entry.type) {
    case Type::Counter: {
      const auto& f = *static_cast<const Family<Counter>*>(entry.family);
      appendHeader(out, name, f.help(), "counter");
      f.forEach([&](const std::vector<std::string>& values, const Counter& c) {
        out += name;
        appendLabels(out, f.labelNames(), values);
        out += ' ';
        out += std::to_string(c.value());
        out += '\n';
      });
      break;
    }
    case Type::Gauge: {
      const auto& f = *static_cast<const Family<Gauge>*>(entry.family);
      appendHeader(out, name, f.help(), "gauge");
      f.forEach([&](const std::vector<std::string>& values, const Gauge& g) {
        out += name;
        appendLabels(out, f.labelNames(), values);
        out += ' ';
        out += formatValue(g.value());
        out += '\n';
      });
      break;
    }
    case Type::Histogram: {
      const auto& f = *static_cast<const Family<Histogram>*>(entry.family);
      appendHeader(out, name, f.help(), "histogram");
      f.forEach([&](const std::vector<std::string>& values, const Histogram& h) {
        const Histogram::Snapshot s = h.snapshot();
        for (size_t i = 0; i <= s.bounds.size(); ++i) {
          out += name;
          out += "_bucket";
          appendLabels(out, f.labelNames(), values, "le",
                       i < s.bounds.size() ? formatValue(s.bounds[i]) : "+Inf");
          out += ' ';
          out += std::to_string(s.cumulative[i]);
          out += '\n';
        }
        out += name;
        out += "_sum";
        appendLabels(out, f.labelNames(), values);
        out += ' ';
        out += formatValue(s.sum);
        out += '\n';
        out += name;
        out += "_count";
        appendLabels(out, f.labelNames(), values);
        out += ' ';
        out += std::to_string(s.count);
        out += '\n';
      });
      break;
    }
    }
  }
  return out;
}

std::string escapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
    case '\\':
      out += "\\\\";
      break;
    case '"':
      out += "\\\"";
      break;
    case '\n':
      out += "\\n";
      break;
    default:
      out += c;
    }
  }
  return out;
}

std::string escapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string formatValue(double value) {
  if (std::isnan(value)) {
    return "NaN";
  }
  if (std::isinf(value)) {
    return value > 0 ? "+Inf" : "-Inf";
  }
  std::array<char, 32> buf{};
  // Whole numbers in plain digits: the shortest form would print 300000 as "3e+05", and a bucket's
  // le label must read as Envoy writes it ("300000"), or le="300000" in a query matches nothing.
  const bool whole = value == std::floor(value) && std::fabs(value) < 1e15;
  auto [end, ec] =
      whole ? std::to_chars(buf.data(), buf.data() + buf.size(), value, std::chars_format::fixed)
            : std::to_chars(buf.data(), buf.data() + buf.size(), value);
  if (ec != std::errc()) {
    return "NaN";
  }
  return std::string(buf.data(), end);
}

bool isValidMetricName(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  auto head = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
  };
  if (!head(name.front())) {
    return false;
  }
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return head(c) || (c >= '0' && c <= '9'); });
}

bool isValidLabelName(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  auto head = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!head(name.front())) {
    return false;
  }
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return head(c) || (c >= '0' && c <= '9'); });
}

} // namespace meshproof::metrics
