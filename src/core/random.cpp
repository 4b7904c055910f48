// Seeding helpers and SplitMix64 (Steele, Lea, Flood 2014).
#include "zeroth/core/random.h"

#include <ATen/CPUGeneratorImpl.h>

namespace zeroth {

static uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t derive_seed(uint64_t seed, std::initializer_list<uint64_t> parts) {
  uint64_t h = mix(seed + 0x9e3779b97f4a7c15ULL);
  for (uint64_t p : parts) h = mix(h ^ (p + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)));
  return h;
}

at::Generator make_cpu_generator(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

uint64_t SplitMix64::next() {
  state_ += 0x9e3779b97f4a7c15ULL;
  return mix(state_);
}

double SplitMix64::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

uint64_t SplitMix64::below(uint64_t n) {
  // Lemire's nearly divisionless method would be faster; rejection keeps it exact and simple.
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do {
    x = next();
  } while (x >= limit);
  return x % n;
}

}  // namespace zeroth
