// CPU bf16 matrix products on CPUs without bf16 instructions. LibTorch 1.13 multiplies bf16 on CPU
// through oneDNN only with AVX-512; elsewhere its bf16 GEMM is a single-threaded reference loop (a
// 0.5B model's `bench sampler` did not finish 32 tokens in 11 minutes on an AVX2 machine). So
// where zeroth's kernels run below the AVX512-BF16 / AMX level (cpu_isa(), ZEROTH_CPU_ISA), bf16
// products that the decode kernels (matmul_kernel.h, <= 64 rows) do not take are computed on fp32
// copies of the operands (LibTorch's fp32 GEMM is multi-threaded and vectorized everywhere), with
// fp32 sums rounded once to bf16 as a bf16 GEMM does. Measured choice: docs/benchmarks.md.
#pragma once

#include <torch/types.h>

namespace zeroth::model {

// Whether CPU bf16 products go through fp32 copies here (logged once at info level when first
// asked and true).
bool bf16_products_through_fp32();

// Whether `a` is a CPU bf16 tensor whose products go through fp32 copies.
bool widen_bf16_product(const torch::Tensor& a);

// out = a b (2-D, one dtype): at::mm_out, or for CPU bf16 where bf16_products_through_fp32(),
// the product of fp32 copies rounded into out.
void mm_out_any(torch::Tensor& out, const torch::Tensor& a, const torch::Tensor& b);

}  // namespace zeroth::model
