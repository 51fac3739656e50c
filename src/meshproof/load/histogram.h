#pragma once
// A latency histogram with bounded relative error (HdrHistogram's idea, written small): values in
// nanoseconds from 1 us to 60 s fall into log-linear buckets, 128 per power of two, so any
// recorded value is reported within 1/128 (< 1 %) of itself. Values outside the range are clamped
// to it and counted as such. Fixed size, no allocation after construction.
//
// Thread-safety: none; merge per-thread histograms.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace meshproof::load {

class Histogram {
public:
  static constexpr uint64_t kMinNs = 1'000;          // 1 us
  static constexpr uint64_t kMaxNs = 60'000'000'000; // 60 s
  static constexpr int kSubBucketBits = 7;           // 128 per octave

  Histogram();

  void record(uint64_t ns);
  void merge(const Histogram& other);

  uint64_t count() const { return count_; }
  uint64_t clamped() const { return clamped_; } // values outside [1 us, 60 s]
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const;
  double stddev() const;
  // The value at quantile q in [0, 1] (0.99 for p99): the midpoint of the bucket holding the
  // ceil(q * count)-th value, clamped to [min, max]. 0 when empty.
  uint64_t quantile(double q) const;
  // Values recorded at or above `ns` (to bucket precision: a bucket counts when its midpoint is).
  uint64_t countAtOrAbove(uint64_t ns) const;

private:
  static size_t index(uint64_t ns);
  static uint64_t lowerBound(size_t index);
  static uint64_t upperBound(size_t index);

  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  uint64_t clamped_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  double sum_ = 0;
  double sum_sq_ = 0;
};

} // namespace meshproof::load
