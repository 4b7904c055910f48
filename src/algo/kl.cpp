// KL estimators and KL-in-reward helpers. Shapes: [B, T].
#include "zeroth/algo/kl.h"

#include <torch/torch.h>

#include "zeroth/core/error.h"

namespace zeroth::algo {

const char* kl_estimator_name(KlEstimator estimator) {
  switch (estimator) {
    case KlEstimator::K1: return "k1";
    case KlEstimator::K2: return "k2";
    case KlEstimator::K3: return "k3";
  }
  return "?";
}

KlEstimator parse_kl_estimator(const std::string& name, const std::string& where) {
  if (name == "k1" || name == "kl") return KlEstimator::K1;
  if (name == "k2" || name == "mse") return KlEstimator::K2;
  if (name == "k3" || name == "low_var_kl") return KlEstimator::K3;
  throw Error(where + ": unknown KL estimator " + quote(name) + "; expected k1, k2 or k3 (verl: kl, mse, low_var_kl)");
}

torch::Tensor kl_estimate(const torch::Tensor& logprobs, const torch::Tensor& logprobs_ref, KlEstimator estimator) {
  TORCH_CHECK(logprobs.sizes() == logprobs_ref.sizes(), "kl_estimate: logprobs ", logprobs.sizes(), " vs logprobs_ref ",
              logprobs_ref.sizes());
  auto ref = logprobs_ref.detach().to(logprobs.scalar_type());
  switch (estimator) {
    case KlEstimator::K1:
      return logprobs - ref;
    case KlEstimator::K2:
      return 0.5 * (logprobs - ref).pow(2);
    case KlEstimator::K3: {
      auto d = (ref - logprobs).clamp(-20.0, 20.0);  // log(pi_ref / pi)
      return (d.exp() - d - 1.0).clamp(-10.0, 10.0);
    }
  }
  throw Error("kl_estimate: unknown estimator");
}

torch::Tensor kl_penalized_token_rewards(const torch::Tensor& rewards, const torch::Tensor& kl, const torch::Tensor& mask,
                                         double beta) {
  TORCH_CHECK(kl.dim() == 2 && kl.sizes() == mask.sizes() && rewards.dim() == 1 && rewards.size(0) == kl.size(0),
              "kl_penalized_token_rewards expects rewards [B], kl [B, T], mask [B, T], got ", rewards.sizes(), ", ",
              kl.sizes(), ", ", mask.sizes());
  auto m = mask.detach().to(torch::kFloat);
  const int64_t T = m.size(1);
  // Index of the last mask token: the largest position with m = 1 (sequences without tokens get none).
  auto positions = torch::arange(T, m.options()).unsqueeze(0);              // [1, T]
  auto last = (positions * m - (1.0 - m)).argmax(1, /*keepdim=*/true);      // [B, 1]
  auto is_last = torch::zeros_like(m).scatter_(1, last, 1.0) * m;           // [B, T]
  auto r = rewards.detach().to(torch::kFloat).unsqueeze(1);                 // [B, 1]
  return (r * is_last - beta * kl.detach().to(torch::kFloat) * m);          // [B, T]
}

torch::Tensor discounted_returns(const torch::Tensor& token_rewards, const torch::Tensor& mask, double gamma) {
  TORCH_CHECK(token_rewards.dim() == 2 && token_rewards.sizes() == mask.sizes(),
              "discounted_returns expects [B, T] rewards and mask, got ", token_rewards.sizes(), " and ", mask.sizes());
  auto m = mask.detach().to(torch::kDouble);
  auto r = token_rewards.detach().to(torch::kDouble) * m;
  auto out = torch::zeros_like(r);
  auto running = torch::zeros({r.size(0)}, r.options());  // [B]
  for (int64_t t = r.size(1) - 1; t >= 0; --t) {
    auto mt = m.select(1, t);
    // Off the mask the running return passes through unchanged (no discount step).
    running = mt * (r.select(1, t) + gamma * running) + (1.0 - mt) * running;
    out.select(1, t).copy_(running * mt);
  }
  return out.to(token_rewards.scalar_type());
}

}  // namespace zeroth::algo
