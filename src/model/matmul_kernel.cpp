// AMX, AVX512-BF16 and AVX2 products of a decode step; see matmul_kernel.h. AMX tiles (all 16 rows x 64 bytes):
//   tmm0-3  fp32 sums C[r][m] of one 16-row block of w each (M <= 16), or 2 blocks x 2 row halves
//   tmm4-5  w: rows n0 + r, columns k..k+31 (bf16), loaded in place with the row stride of w
//   tmm6-7  x packed: row p, column m holds the pair x[m][k + 2p], x[m][k + 2p + 1]
// TDPBF16PS C += A B sums each pair's two products into C[r][m] in fp32.
#include "model/matmul_kernel.h"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include <immintrin.h>

#include "core/bf16.h"
#include "core/parallel.h"
#include "model/simd.h"

namespace zeroth::model::kernels {
namespace {

constexpr int64_t kBlock = 16;   // rows of w per tile
constexpr int64_t kKStep = 32;   // bf16 columns per tile row (64 bytes)

bool detect_amx() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool amx_bf16 = d & (1u << 22), amx_tile = d & (1u << 24);
  if (!amx_bf16 || !amx_tile || !cpu_has_avx512()) return false;  // the stores use AVX-512
  if (cpu_isa() < CpuIsa::amx) return false;                      // ZEROTH_CPU_ISA asked for less
  // Linux hands out the 8 KB tile state only on request (arch_prctl ARCH_REQ_XCOMP_PERM for
  // XFEATURE_XTILEDATA); without it the first tile instruction kills the process.
  constexpr long kArchGetXcompPerm = 0x1022, kArchReqXcompPerm = 0x1023, kXtiledata = 18;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXtiledata) != 0) return false;
  unsigned long granted = 0;
  if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &granted) != 0) return false;
  return (granted >> kXtiledata) & 1u;
}

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

TileConfig full_tiles() {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  return cfg;
}

__attribute__((target("amx-tile"))) void load_tiles(const TileConfig& cfg) { _tile_loadconfig(&cfg); }
__attribute__((target("amx-tile"))) void release_tiles() { _tile_release(); }

void zero_sums() {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
}

// The four fp32 tiles of sums to memory, 16 rows of 16 each.
void store_sums(float (*sums)[256]) {
  _tile_stored(0, sums[0], 64);
  _tile_stored(1, sums[1], 64);
  _tile_stored(2, sums[2], 64);
  _tile_stored(3, sums[3], 64);
}

// A run of consecutive 16-row blocks of one product (at most 4, or 2 when M > 16), or its last
// N % 16 rows (tail).
struct Unit {
  int64_t product;
  int64_t first_row;
  int64_t blocks;
  bool tail;
};

// x rows m of one 16-column half (m0..m0+15, missing rows zero) in the pair-interleaved layout,
// one 1 KB tile per 32 columns of K.
void pack_rows(const uint16_t* x, int64_t ldx, int64_t M, int64_t K, int64_t m0, uint16_t* out) {
  const int64_t steps = K / kKStep;
  std::memset(out, 0, static_cast<size_t>(steps) * 512 * sizeof(uint16_t));
  for (int64_t m = m0; m < std::min(M, m0 + 16); ++m) {
    const uint16_t* row = x + m * ldx;
    for (int64_t s = 0; s < steps; ++s) {
      uint16_t* tile = out + s * 512;
      for (int64_t p = 0; p < 16; ++p) {
        tile[p * 32 + (m - m0) * 2] = row[s * kKStep + 2 * p];
        tile[p * 32 + (m - m0) * 2 + 1] = row[s * kKStep + 2 * p + 1];
      }
    }
  }
}

// Writes one 16 x 16 fp32 tile of sums C[r][m] (weight row n0 + r, activation row m) to y: column
// m of the tile (a 16-lane gather) plus the bias, rounded, is the run y[m][n0 .. n0 + 15].
__attribute__((target("avx512f"))) void store_block(const float* sums, const RowsProduct& p, int64_t n0, int64_t m0,
                                                    int64_t M) {
  const __m512i column = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                            _mm512_set1_epi32(16));
  const __m512 bias = p.b ? load16(p.b + n0) : _mm512_setzero_ps();
  for (int64_t m = m0; m < std::min(M, m0 + 16); ++m) {
    const __m512 v = _mm512_i32gather_ps(column, sums + (m - m0), 4);
    store16(p.y + m * p.ldy + n0, _mm512_add_ps(v, bias));
  }
}

// M <= 16: up to 4 blocks of w share each packed tile of x.
void run_unit_16(const Unit& u, const RowsProduct& p, const uint16_t* xb, int64_t M, int64_t K) {
  const int64_t steps = K / kKStep;
  const int64_t stride = p.ldw * 2;
  const uint16_t* w0 = p.w + u.first_row * p.ldw;
  const uint16_t* w1 = w0 + kBlock * p.ldw;
  const uint16_t* w2 = w1 + kBlock * p.ldw;
  const uint16_t* w3 = w2 + kBlock * p.ldw;
  zero_sums();
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t k = s * kKStep;
    _tile_loadd(6, xb + s * 512, 64);
    _tile_loadd(4, w0 + k, stride);
    _tile_dpbf16ps(0, 4, 6);
    if (u.blocks > 1) {
      _tile_loadd(5, w1 + k, stride);
      _tile_dpbf16ps(1, 5, 6);
    }
    if (u.blocks > 2) {
      _tile_loadd(4, w2 + k, stride);
      _tile_dpbf16ps(2, 4, 6);
    }
    if (u.blocks > 3) {
      _tile_loadd(5, w3 + k, stride);
      _tile_dpbf16ps(3, 5, 6);
    }
  }
  alignas(64) float sums[4][256];
  store_sums(sums);
  for (int64_t b = 0; b < u.blocks; ++b) store_block(sums[b], p, u.first_row + b * kBlock, 0, M);
}

// M > 16: up to 2 blocks of w times x rows m0 .. m0 + 31 (two packed halves; the second is zeros
// past M). For M > 32 the caller repeats the unit for the next 32 rows, its w now in L2.
void run_unit_32(const Unit& u, const RowsProduct& p, const uint16_t* packed, int64_t m0, int64_t M, int64_t K) {
  const int64_t steps = K / kKStep;
  const int64_t stride = p.ldw * 2;
  const uint16_t* w0 = p.w + u.first_row * p.ldw;
  const uint16_t* w1 = w0 + kBlock * p.ldw;
  const uint16_t* xb = packed + (m0 / 16) * steps * 512;
  const uint16_t* xb1 = xb + steps * 512;
  zero_sums();
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t k = s * kKStep;
    _tile_loadd(6, xb + s * 512, 64);
    _tile_loadd(7, xb1 + s * 512, 64);
    _tile_loadd(4, w0 + k, stride);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    if (u.blocks > 1) {
      _tile_loadd(5, w1 + k, stride);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
  }
  alignas(64) float sums[4][256];
  store_sums(sums);
  store_block(sums[0], p, u.first_row, m0, M);
  store_block(sums[1], p, u.first_row, m0 + 16, M);
  if (u.blocks > 1) {
    store_block(sums[2], p, u.first_row + kBlock, m0, M);
    store_block(sums[3], p, u.first_row + kBlock, m0 + 16, M);
  }
}

// The last N % 16 rows, without tiles.
void run_tail(const Unit& u, const RowsProduct& p, const uint16_t* x, int64_t ldx, int64_t M, int64_t K) {
  for (int64_t n = u.first_row; n < p.N; ++n) {
    const uint16_t* w = p.w + n * p.ldw;
    for (int64_t m = 0; m < M; ++m) {
      const uint16_t* xr = x + m * ldx;
      float sum = 0.0f;
      for (int64_t k = 0; k < K; ++k) sum += bf16_bits_to_float(w[k]) * bf16_bits_to_float(xr[k]);
      if (p.b) sum += bf16_bits_to_float(p.b[n]);
      p.y[m * p.ldy + n] = float_to_bf16_bits(sum);
    }
  }
}


void rows_products_amx(const uint16_t* x, int64_t ldx, int64_t M, int64_t K, const RowsProduct* products,
                       int64_t count) {
  const bool wide = M > 16;
  const int64_t per_unit = wide ? 2 : 4;
  std::vector<Unit> units;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t full = products[i].N / kBlock;
    for (int64_t b = 0; b < full; b += per_unit) units.push_back({i, b * kBlock, std::min(per_unit, full - b), false});
    if (products[i].N % kBlock != 0) units.push_back({i, full * kBlock, 0, true});
  }
  const int64_t steps = K / kKStep;
  // 16-row groups of x, each packed into steps tiles; an even count when wide (pairs of groups).
  const int64_t groups = wide ? (M + 31) / 32 * 2 : 1;
  std::vector<uint16_t> packed(static_cast<size_t>(steps * 512 * groups));
  for (int64_t g = 0; g < groups; ++g) pack_rows(x, ldx, M, K, g * 16, packed.data() + g * steps * 512);

  const TileConfig cfg = full_tiles();
  at::parallel_for(0, static_cast<int64_t>(units.size()), 1, [&](int64_t lo, int64_t hi) {
    load_tiles(cfg);
    for (int64_t i = lo; i < hi; ++i) {
      const Unit& u = units[i];
      const RowsProduct& p = products[u.product];
      if (u.tail) {
        run_tail(u, p, x, ldx, M, K);
      } else if (wide) {
        for (int64_t m0 = 0; m0 < M; m0 += 32) run_unit_32(u, p, packed.data(), m0, M, K);
      } else {
        run_unit_16(u, p, packed.data(), M, K);
      }
    }
    release_tiles();
  });
}

// ---- AVX512-BF16: per weight row, VDPBF16PS of 32 bf16 pairs into one fp32 sum per x row ----

template <int M>
__attribute__((target("avx512f,avx512bf16"))) void dot_rows(const uint16_t* x, int64_t ldx, int64_t K,
                                                             const RowsProduct& p, int64_t lo, int64_t hi) {
  for (int64_t n = lo; n < hi; ++n) {
    const uint16_t* w = p.w + n * p.ldw;
    __m512 acc[M];
    for (int m = 0; m < M; ++m) acc[m] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k += kKStep) {
      const __m512bh wk = (__m512bh)_mm512_loadu_si512(w + k);
      for (int m = 0; m < M; ++m) {
        acc[m] = _mm512_dpbf16_ps(acc[m], wk, (__m512bh)_mm512_loadu_si512(x + m * ldx + k));
      }
    }
    const float bias = p.b ? bf16_bits_to_float(p.b[n]) : 0.0f;
    for (int m = 0; m < M; ++m) p.y[m * p.ldy + n] = float_to_bf16_bits(_mm512_reduce_add_ps(acc[m]) + bias);
  }
}

void rows_products_dot(const uint16_t* x, int64_t ldx, int64_t M, int64_t K, const RowsProduct* products,
                       int64_t count) {
  // Work in runs of 64 weight rows over all products, so that q/k/v share one parallel loop.
  constexpr int64_t kRun = 64;
  std::vector<std::pair<int64_t, int64_t>> runs;  // (product, first row)
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t n = 0; n < products[i].N; n += kRun) runs.emplace_back(i, n);
  }
  at::parallel_for(0, static_cast<int64_t>(runs.size()), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const RowsProduct& p = products[runs[r].first];
      const int64_t n0 = runs[r].second, n1 = std::min(p.N, n0 + kRun);
      if (M == 1) {
        dot_rows<1>(x, ldx, K, p, n0, n1);
      } else {
        dot_rows<2>(x, ldx, K, p, n0, n1);
      }
    }
  });
}

// ---- AVX2 + FMA: bf16 weights widened to fp32 in registers (shift), x rows widened once ----

// NR weight rows n..n+NR-1 times MR activation rows (fp32, packed [M, K]): NR x MR fp32 sums of 8
// lanes each (at most 12 of the 16 registers), one load of w per row and step shared by MR rows.
template <int NR, int MR>
__attribute__((target("avx2,fma"))) void fma_block(const float* xf, int64_t K, const RowsProduct& p, int64_t n,
                                                   int64_t m0) {
  __m256 acc[NR][MR];
  for (int r = 0; r < NR; ++r) {
    for (int c = 0; c < MR; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  const uint16_t* w = p.w + n * p.ldw;
  const float* x = xf + m0 * K;
  for (int64_t k = 0; k < K; k += 8) {
    __m256 xs[MR];
    for (int c = 0; c < MR; ++c) xs[c] = _mm256_loadu_ps(x + c * K + k);
    for (int r = 0; r < NR; ++r) {
      const __m256 wr = load8(w + r * p.ldw + k);
      for (int c = 0; c < MR; ++c) acc[r][c] = _mm256_fmadd_ps(wr, xs[c], acc[r][c]);
    }
  }
  for (int r = 0; r < NR; ++r) {
    const float bias = p.b ? bf16_bits_to_float(p.b[n + r]) : 0.0f;
    for (int c = 0; c < MR; ++c) p.y[(m0 + c) * p.ldy + n + r] = float_to_bf16_bits(reduce_add8(acc[r][c]) + bias);
  }
}

// Weight rows [lo, hi) of one product times all M rows: 4 weight rows at a time (from L1 for every
// group of 3 activation rows after the first), then the last hi - lo % 4 one by one.
template <int NR>
void fma_rows(const float* xf, int64_t M, int64_t K, const RowsProduct& p, int64_t n) {
  int64_t m0 = 0;
  for (; m0 + 3 <= M; m0 += 3) fma_block<NR, 3>(xf, K, p, n, m0);
  if (M - m0 == 2) fma_block<NR, 2>(xf, K, p, n, m0);
  if (M - m0 == 1) fma_block<NR, 1>(xf, K, p, n, m0);
}

void rows_products_avx2(const uint16_t* x, int64_t ldx, int64_t M, int64_t K, const RowsProduct* products,
                        int64_t count) {
  std::vector<float> xf(static_cast<size_t>(M * K));
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t k = 0; k < K; ++k) xf[m * K + k] = bf16_bits_to_float(x[m * ldx + k]);
  }
  constexpr int64_t kRun = 64;  // weight rows per task, over all products (q/k/v share one loop)
  std::vector<std::pair<int64_t, int64_t>> runs;  // (product, first row)
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t n = 0; n < products[i].N; n += kRun) runs.emplace_back(i, n);
  }
  at::parallel_for(0, static_cast<int64_t>(runs.size()), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const RowsProduct& p = products[runs[r].first];
      const int64_t n1 = std::min(p.N, runs[r].second + kRun);
      int64_t n = runs[r].second;
      for (; n + 4 <= n1; n += 4) fma_rows<4>(xf.data(), M, K, p, n);
      for (; n < n1; ++n) fma_rows<1>(xf.data(), M, K, p, n);
    }
  });
}

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

}  // namespace

bool amx_available() {
  static const bool available = detect_amx();
  return available;
}

bool avx512_bf16_available() {
  static const bool available = cpu_has_avx512() && __builtin_cpu_supports("avx512bf16");
  return available;
}

bool avx2_available() { return cpu_isa() >= CpuIsa::avx2; }

RowsKernel rows_kernel() {
  static const RowsKernel kernel = [] {
    if (env_set("ZEROTH_NO_ROWS_KERNEL")) return RowsKernel::none;
    if (!env_set("ZEROTH_NO_AMX") && amx_available()) return RowsKernel::amx;
    if (avx512_bf16_available()) return RowsKernel::avx512_bf16;
    if (avx2_available()) return RowsKernel::avx2;
    return RowsKernel::none;
  }();
  return kernel;
}

bool rows_product_supported(RowsKernel kernel, int64_t M, int64_t K) {
  switch (kernel) {
    case RowsKernel::amx: return M >= 1 && M <= kMaxRows && K > 0 && K % kKStep == 0;
    case RowsKernel::avx512_bf16: return M >= 1 && M <= kMaxDotRows && K > 0 && K % kKStep == 0;
    case RowsKernel::avx2: return M >= 1 && M <= kMaxRows && K > 0 && K % 8 == 0;
    case RowsKernel::none: return false;
  }
  return false;
}

void rows_products_bf16(RowsKernel kernel, const uint16_t* x, int64_t ldx, int64_t M, int64_t K,
                        const RowsProduct* products, int64_t count) {
  if (kernel == RowsKernel::amx) {
    rows_products_amx(x, ldx, M, K, products, count);
  } else if (kernel == RowsKernel::avx512_bf16) {
    rows_products_dot(x, ldx, M, K, products, count);
  } else if (kernel == RowsKernel::avx2) {
    rows_products_avx2(x, ldx, M, K, products, count);
  }
}

}  // namespace zeroth::model::kernels
