// require_close(actual, expected, atol, rtol): fails with shapes, max abs diff and the first bad
// index, so a failing tensor test says where it broke.
#pragma once

#include "support/catch.h"
#include <torch/torch.h>

#include <sstream>

namespace zeroth::testing {

inline void require_close(const torch::Tensor& actual, const torch::Tensor& expected, double atol = 1e-6,
                          double rtol = 0.0) {
  INFO("actual shape " << actual.sizes() << ", expected shape " << expected.sizes());
  REQUIRE(actual.sizes() == expected.sizes());
  auto a = actual.detach().to(torch::kCPU).to(torch::kDouble).flatten();
  auto e = expected.detach().to(torch::kCPU).to(torch::kDouble).flatten();
  // Equal values (infinities included) differ by 0; NaN must meet NaN.
  auto diff = torch::where(a == e, torch::zeros_like(a), (a - e).abs());
  auto limit = atol + rtol * e.abs();
  auto bad = (diff > limit).logical_or(diff.isnan().logical_xor(e.isnan()));
  if (bad.any().item<bool>()) {
    int64_t first = bad.nonzero()[0][0].item<int64_t>();
    std::ostringstream msg;
    msg << "tensors differ: max abs diff " << diff.nan_to_num(0).max().item<double>() << " (atol " << atol
        << ", rtol " << rtol << "); first bad flat index " << first << ": actual " << a[first].item<double>()
        << ", expected " << e[first].item<double>();
    FAIL(msg.str());
  }
}

}  // namespace zeroth::testing
