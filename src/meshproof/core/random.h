#pragma once
// Random: the single seam for randomness. Everything that rolls dice (weighted picks, jitter, chaos
// target choice) takes a Random& so that a recorded seed replays the same choices.
//
// Thread-safety: none; give each thread its own generator (fork() derives one deterministically).

#include <cstdint>
#include <memory>

namespace meshproof::core {

class Random {
public:
  virtual ~Random() = default;
  // Uniform 64-bit value.
  virtual uint64_t next() = 0;

  // Uniform in [0, bound); bound 0 returns 0. Unbiased (rejection sampling).
  uint64_t uniform(uint64_t bound);
  // Uniform double in [0, 1).
  double unit();
};

// xoshiro256** seeded through splitmix64: fast, small state, reproducible across platforms.
class SeededRandom final : public Random {
public:
  explicit SeededRandom(uint64_t seed);
  uint64_t next() override;
  uint64_t seed() const { return seed_; }
  // A new independent generator derived from this one's stream (for per-worker generators).
  SeededRandom fork();

private:
  uint64_t seed_;
  uint64_t s_[4];
};

} // namespace meshproof::core
