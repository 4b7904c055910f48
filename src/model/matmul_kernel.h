// Matrix products of a decode step on CPU in bf16: a few rows of activations (one per live
// sequence) times weights that are read once from memory. LibTorch's oneDNN path runs these
// shapes at a fraction of the memory bandwidth (batch-1 decode read its ~1 GB of weights at
// ~18 GB/s; docs/benchmarks.md), so they run here on the CPU's AMX tiles when it has them, for a
// few rows on AVX512-BF16 dot products, or else with AVX2+FMA on bf16 widened to fp32 in registers
// (LibTorch 1.13 has no fast bf16 product without AVX-512: a single-threaded reference GEMM).
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

// The kernel that serves the products below here, chosen once:
//   amx          CPUID AMX-BF16/AMX-TILE, Linux granted the tile state, AVX-512: M <= kMaxRows;
//   avx512_bf16  VDPBF16PS (AMD Zen 4, Intel Cooper Lake): M <= kMaxDotRows (batch-1 decode);
//   avx2         AVX2+FMA (cpu_isa() >= avx2, no bf16 instructions): M <= kMaxRows, K % 8 == 0;
//   none         torch::linear serves everything.
// ZEROTH_NO_AMX=1 in the environment skips AMX, ZEROTH_NO_ROWS_KERNEL=1 all of them.
enum class RowsKernel { none, avx512_bf16, amx, avx2 };
constexpr int64_t kMaxDotRows = 2;  // 3 rows gained 7% over oneDNN, 4 lost 8% (one dot per row and 64 bytes)
RowsKernel rows_kernel();
bool amx_available();          // whether the AMX path can run here (regardless of the choice)
bool avx512_bf16_available();  // whether the VDPBF16PS path can run here
bool avx2_available();         // whether the AVX2+FMA path can run here (cpu_isa() >= avx2)

// Whether `kernel` takes this shape: 1 <= M <= its row limit and K a multiple of 32 (AVX2: of 8).
bool rows_product_supported(RowsKernel kernel, int64_t M, int64_t K);

// x [M, K] (row stride ldx elements). Rows of w are split over LibTorch's intra-op threads.
// Requires `kernel` to be available and rows_product_supported(kernel, M, K).
void rows_products_bf16(RowsKernel kernel, const uint16_t* x, int64_t ldx, int64_t M, int64_t K,
                        const RowsProduct* products, int64_t count);

}  // namespace zeroth::model::kernels
