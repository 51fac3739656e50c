#include "meshproof/load/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace meshproof::load {

namespace {

constexpr uint64_t kSub = uint64_t{1} << Histogram::kSubBucketBits;
// Octaves above kMinNs: values in [kMinNs * 2^o, kMinNs * 2^(o+1)) share octave o.
constexpr int kOctaves = 26; // kMinNs * 2^26 = 67 s > kMaxNs

} // namespace

Histogram::Histogram() : buckets_(static_cast<size_t>(kOctaves) * kSub, 0) {}

size_t Histogram::index(uint64_t ns) {
  // Scaled so that kMinNs maps to kSub: the octave is the bit length beyond kSubBucketBits.
  const double scaled = static_cast<double>(ns) * static_cast<double>(kSub) / kMinNs;
  const auto v = static_cast<uint64_t>(scaled);
  const int octave = std::max(0, static_cast<int>(std::bit_width(v)) - 1 - kSubBucketBits);
  const uint64_t sub = (v >> octave) - kSub; // 0..kSub-1
  return static_cast<size_t>(octave) * kSub + static_cast<size_t>(std::min(sub, kSub - 1));
}

uint64_t Histogram::lowerBound(size_t i) {
  const size_t octave = i / kSub;
  const uint64_t sub = i % kSub;
  return static_cast<uint64_t>(
      std::ceil(static_cast<double>((kSub + sub) << octave) * kMinNs / static_cast<double>(kSub)));
}

uint64_t Histogram::upperBound(size_t i) {
  return lowerBound(i + 1);
}

void Histogram::record(uint64_t ns) {
  if (ns < kMinNs || ns > kMaxNs) {
    ++clamped_;
  }
  const uint64_t v = std::clamp(ns, kMinNs, kMaxNs);
  ++buckets_[index(v)];
  ++count_;
  min_ = std::min(min_, v);
  max_ = std::max(max_, v);
  const auto d = static_cast<double>(v);
  sum_ += d;
  sum_sq_ += d * d;
}

void Histogram::merge(const Histogram& other) {
  for (size_t i = 0; i < buckets_.size(); ++i) {
    buckets_[i] += other.buckets_[i];
  }
  count_ += other.count_;
  clamped_ += other.clamped_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
  sum_sq_ += other.sum_sq_;
}

double Histogram::mean() const {
  return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_);
}

double Histogram::stddev() const {
  if (count_ < 2) {
    return 0.0;
  }
  const double m = mean();
  return std::sqrt(std::max(0.0, sum_sq_ / static_cast<double>(count_) - m * m));
}

uint64_t Histogram::quantile(double q) const {
  if (count_ == 0) {
    return 0;
  }
  const auto rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      const uint64_t mid = (lowerBound(i) + upperBound(i) - 1) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

uint64_t Histogram::countAtOrAbove(uint64_t ns) const {
  uint64_t n = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    if ((lowerBound(i) + upperBound(i) - 1) / 2 >= ns) {
      n += buckets_[i];
    }
  }
  return n;
}

} // namespace meshproof::load
