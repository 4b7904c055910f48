// measure_read_bandwidth (device.h): integer sums over a buffer split across the intra-op threads.
// Compiled with OpenMP (core/sources.cmake) so that at::parallel_for really splits.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "core/parallel.h"
#include "zeroth/core/device.h"

namespace zeroth {

double measure_read_bandwidth(int64_t bytes, int repeats) {
  const int64_t words = bytes / static_cast<int64_t>(sizeof(uint64_t));
  std::unique_ptr<uint64_t[]> buffer(new uint64_t[words]);
  std::memset(buffer.get(), 1, static_cast<size_t>(words) * sizeof(uint64_t));  // touch every page first
  const int threads = at::get_num_threads();
  double best = 0;
  volatile uint64_t sink = 0;
  for (int r = 0; r < repeats; ++r) {
    std::vector<uint64_t> sums(static_cast<size_t>(threads), 0);
    const auto t0 = std::chrono::steady_clock::now();
    at::parallel_for(0, words, words / threads + 1, [&](int64_t lo, int64_t hi) {
      uint64_t a = 0, b = 0, c = 0, d = 0;
      const uint64_t* p = buffer.get();
      int64_t i = lo;
      for (; i + 4 <= hi; i += 4) {
        a += p[i];
        b += p[i + 1];
        c += p[i + 2];
        d += p[i + 3];
      }
      for (; i < hi; ++i) a += p[i];
      sums[static_cast<size_t>(at::get_thread_num())] += a + b + c + d;
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (uint64_t s : sums) sink = sink + s;
    best = std::max(best, static_cast<double>(words) * sizeof(uint64_t) / seconds);
  }
  return best;
}

}  // namespace zeroth
