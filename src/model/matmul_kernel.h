// Matrix products of a decode step on CPU in bf16: a few rows of activations (one per live
// sequence) times weights that are read once from memory. LibTorch's oneDNN path runs these
// shapes at a fraction of the memory bandwidth (batch-1 decode read its ~1 GB of weights at
// ~18 GB/s; docs/benchmarks.md), so they run here on the CPU's AMX tiles when it has them.
//
//   y[m, n] = sum_k x[m, k] w[n, k] (+ b[n]),   m < M <= kMaxRows, fp32 sums, one rounding to bf16.
//
// The weights stay as the model holds them ([N, K] row-major, the trainer's very tensor): 16 rows
// x 32 columns of w load straight into a tile as its left operand; the few activation rows are
// packed once per call into the pair-interleaved layout of the right operand. Several products
// that share x (q/k/v, gate/up) run as one parallel loop over all their 16-row blocks.
#pragma once

#include <cstdint>

namespace zeroth::model::kernels {

// Up to 64 rows the products stay bound by the weight reads (beyond, oneDNN's blocked GEMM wins).
constexpr int64_t kMaxRows = 64;

// One product of a group: w [N, K] (row stride ldw elements), b [N] or null, y [M, N] (row stride
// ldy elements). All bf16 as raw bits.
struct RowsProduct {
  const uint16_t* w = nullptr;
  int64_t ldw = 0;
  const uint16_t* b = nullptr;
  uint16_t* y = nullptr;
  int64_t ldy = 0;
  int64_t N = 0;
};

// Whether this CPU and OS run the AMX tiles (CPUID AMX-BF16 and AMX-TILE, and Linux granted the
// tile state to the process). Checked once; ZEROTH_NO_AMX=1 in the environment answers false.
bool amx_available();

// Whether the products below take this shape: 1 <= M <= kMaxRows and K a multiple of 32.
bool rows_product_supported(int64_t M, int64_t K);

// x [M, K] (row stride ldx elements). Rows are split over LibTorch's intra-op threads. Requires
// amx_available() and rows_product_supported(M, K).
void rows_products_bf16(const uint16_t* x, int64_t ldx, int64_t M, int64_t K, const RowsProduct* products,
                        int64_t count);

}  // namespace zeroth::model::kernels
