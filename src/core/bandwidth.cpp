// measure_read_bandwidth (device.h): integer sums over a buffer split across the intra-op threads.
// Compiled with OpenMP (core/sources.cmake) so that at::parallel_for really splits.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include <immintrin.h>

#include "core/parallel.h"
#include "zeroth/core/device.h"

namespace zeroth {
namespace {

// Sums of 64-byte lines, four loads in flight: plain 8-byte loads top out below the roof here
// (22 vs 28 GB/s on 2 threads of the dev machine).
__attribute__((target("avx512f"))) uint64_t sum_avx512(const uint64_t* p, int64_t lo, int64_t hi) {
  __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
  int64_t i = lo;
  for (; i + 32 <= hi; i += 32) {
    a = _mm512_add_epi64(a, _mm512_loadu_si512(p + i));
    b = _mm512_add_epi64(b, _mm512_loadu_si512(p + i + 8));
    c = _mm512_add_epi64(c, _mm512_loadu_si512(p + i + 16));
    d = _mm512_add_epi64(d, _mm512_loadu_si512(p + i + 24));
  }
  uint64_t sum = _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a, b), _mm512_add_epi64(c, d)));
  for (; i < hi; ++i) sum += p[i];
  return sum;
}

uint64_t sum_plain(const uint64_t* p, int64_t lo, int64_t hi) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  int64_t i = lo;
  for (; i + 4 <= hi; i += 4) {
    a += p[i];
    b += p[i + 1];
    c += p[i + 2];
    d += p[i + 3];
  }
  for (; i < hi; ++i) a += p[i];
  return a + b + c + d;
}

}  // namespace

double measure_read_bandwidth(int64_t bytes, int repeats) {
  const int64_t words = bytes / static_cast<int64_t>(sizeof(uint64_t));
  std::unique_ptr<uint64_t[]> buffer(new uint64_t[words]);
  std::memset(buffer.get(), 1, static_cast<size_t>(words) * sizeof(uint64_t));  // touch every page first
  const int threads = at::get_num_threads();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  double best = 0;
  volatile uint64_t sink = 0;
  for (int r = 0; r < repeats; ++r) {
    std::vector<uint64_t> sums(static_cast<size_t>(threads), 0);
    const auto t0 = std::chrono::steady_clock::now();
    at::parallel_for(0, words, words / threads + 1, [&](int64_t lo, int64_t hi) {
      const uint64_t s = avx512 ? sum_avx512(buffer.get(), lo, hi) : sum_plain(buffer.get(), lo, hi);
      sums[static_cast<size_t>(at::get_thread_num())] += s;
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (uint64_t s : sums) sink = sink + s;
    best = std::max(best, static_cast<double>(words) * sizeof(uint64_t) / seconds);
  }
  return best;
}

}  // namespace zeroth
