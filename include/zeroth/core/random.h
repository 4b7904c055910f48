// Seeding. Every random stream in zeroth derives from one user seed through derive_seed(), so a
// stream depends only on (seed, purpose, index) and not on batch composition or thread timing.
#pragma once

#include <cstdint>
#include <initializer_list>

#include <ATen/core/Generator.h>

namespace zeroth {

// SplitMix64-mixed combination of a base seed and integers (purpose tag, step, sequence index...).
uint64_t derive_seed(uint64_t seed, std::initializer_list<uint64_t> parts);

// A fresh CPU generator with the given seed (for per-sequence sampling streams).
at::Generator make_cpu_generator(uint64_t seed);

// SplitMix64: a tiny, fast, well-mixed generator for host-side choices (shuffles, data order).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next();
  double uniform();                        // [0, 1)
  uint64_t below(uint64_t n);              // [0, n), n > 0
  uint64_t state() const { return state_; }
  void set_state(uint64_t state) { state_ = state; }

 private:
  uint64_t state_;
};

}  // namespace zeroth
