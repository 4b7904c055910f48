// Logits processors against hand-computed values, and the token draw against its distribution.
#include "support/catch.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <torch/torch.h>

#include "support/tensor_asserts.h"
#include "zeroth/core/json.h"
#include "zeroth/core/random.h"
#include "rollout/sample_kernel.h"
#include "zeroth/rollout/logits_processors.h"

using namespace zeroth;
using namespace zeroth::rollout;
using zeroth::testing::require_close;

namespace {
const float kInf = std::numeric_limits<float>::infinity();

// Applies the chain to a copy: processors work in place.
torch::Tensor apply(const LogitsChain& chain, const torch::Tensor& logits, const TokenHistory& history = {}) {
  auto out = logits.clone();
  chain.apply(out, history);
  return out;
}
LogitsChain single(std::unique_ptr<LogitsProcessor> p) {
  LogitsChain c;
  c.add(std::move(p));
  return c;
}
torch::Tensor log_probs(std::vector<double> p) { return torch::tensor(p, torch::kDouble).log().to(torch::kFloat).unsqueeze(0); }
}  // namespace

TEST_CASE("top_k keeps the k largest logits", "[rollout][logits]") {
  auto out = apply(single(make_top_k(2)), torch::tensor({{1.0f, 3.0f, 2.0f, 5.0f, 4.0f}}));
  require_close(out, torch::tensor({{-kInf, -kInf, -kInf, 5.0f, 4.0f}}));
  auto all = apply(single(make_top_k(10)), torch::tensor({{1.0f, 2.0f}}));  // k > V keeps everything
  require_close(all, torch::tensor({{1.0f, 2.0f}}));
}

TEST_CASE("top_p keeps the smallest prefix whose mass reaches p", "[rollout][logits]") {
  // probs 0.5, 0.3, 0.15, 0.05 (given out of order): masses before each, sorted: 0, 0.5, 0.8, 0.95.
  auto logits = log_probs({0.15, 0.5, 0.05, 0.3});
  auto p07 = apply(single(make_top_p(0.7)), logits);  // keeps 0.5 and 0.3
  REQUIRE(std::isinf(p07[0][0].item<float>()));
  REQUIRE(std::isinf(p07[0][2].item<float>()));
  REQUIRE(std::isfinite(p07[0][1].item<float>()));
  REQUIRE(std::isfinite(p07[0][3].item<float>()));
  auto p09 = apply(single(make_top_p(0.9)), logits);  // 0.5 + 0.3 < 0.9: keeps 0.15 too
  REQUIRE(std::isfinite(p09[0][0].item<float>()));
  REQUIRE(std::isinf(p09[0][2].item<float>()));
  auto tiny = apply(single(make_top_p(0.01)), logits);  // the top token is always kept
  REQUIRE(torch::isfinite(tiny).sum().item<int64_t>() == 1);
  REQUIRE(std::isfinite(tiny[0][1].item<float>()));
}

TEST_CASE("min_p drops tokens below min_p times the top probability", "[rollout][logits]") {
  auto out = apply(single(make_min_p(0.2)), log_probs({0.5, 0.3, 0.15, 0.05}));  // threshold 0.1
  REQUIRE(torch::isfinite(out).sum().item<int64_t>() == 3);
  REQUIRE(std::isinf(out[0][3].item<float>()));
}

TEST_CASE("repetition penalty divides positive and multiplies negative logits of seen tokens", "[rollout][logits]") {
  TokenHistory history(1, 3, true, torch::kCPU);
  history.reset_row(0, {0, 1});
  auto out = apply(single(make_repetition_penalty(2.0)), torch::tensor({{2.0f, -2.0f, 1.0f}}), history);
  require_close(out, torch::tensor({{1.0f, -4.0f, 1.0f}}));
}

TEST_CASE("presence and frequency penalties count completion tokens only", "[rollout][logits]") {
  TokenHistory history(1, 3, true, torch::kCPU);
  history.reset_row(0, {0});  // prompt token: seen, but not counted
  history.append(torch::tensor({1}, torch::kLong));
  history.append(torch::tensor({1}, torch::kLong));
  history.append(torch::tensor({2}, torch::kLong));
  history.append(torch::tensor({-1}, torch::kLong));  // a finished row's placeholder: ignored
  require_close(history.output_counts, torch::tensor({{0.0f, 2.0f, 1.0f}}));
  REQUIRE(history.seen.all().item<bool>());
  auto out = apply(single(make_presence_frequency_penalty(0.5, 0.25)), torch::zeros({1, 3}), history);
  require_close(out, torch::tensor({{0.0f, -1.0f, -0.75f}}));
}

TEST_CASE("banned tokens are never chosen, ids outside the vocabulary are an error", "[rollout][logits]") {
  auto out = apply(single(make_banned_tokens({1})), torch::tensor({{0.0f, 9.0f, 1.0f}}));
  REQUIRE(std::isinf(out[0][1].item<float>()));
  auto greedy = sample_tokens(torch::tensor({{0.0f, 9.0f, 1.0f}}), single(make_banned_tokens({1})), {}, true, {});
  REQUIRE(greedy.ids[0].item<int64_t>() == 2);
  REQUIRE_THROWS_WITH(apply(single(make_banned_tokens({3})), torch::zeros({1, 3})), Catch::Contains("outside the vocabulary"));
}

TEST_CASE("LogitsChain::from_options orders steps and leaves disabled ones out", "[rollout][logits]") {
  SamplingOptions o;
  REQUIRE(LogitsChain::from_options(o).names().empty());  // T = 1, no filters
  o.temperature = 0.7;
  o.top_k = 20;
  o.top_p = 0.9;
  o.min_p = 0.05;
  o.repetition_penalty = 1.1;
  o.banned_token_ids = {3};
  REQUIRE(LogitsChain::from_options(o).names() ==
          std::vector<std::string>{"banned_tokens", "repetition_penalty", "temperature", "top_k", "top_p", "min_p"});
  o.temperature = 0.0;  // greedy: the filters cannot change the argmax
  REQUIRE(LogitsChain::from_options(o).names() == std::vector<std::string>{"banned_tokens", "repetition_penalty"});
}

TEST_CASE("sample_tokens: log-probs under the processed and the raw distribution", "[rollout][logits]") {
  auto logits = torch::tensor({{1.0f, 2.0f, 0.5f, -1.0f}});
  SamplingOptions o;
  o.temperature = 0.5;
  auto chain = LogitsChain::from_options(o);
  // u = 0.99 lands in the last token with probability mass; compute the CDF by hand.
  std::vector<double> l = {1.0, 2.0, 0.5, -1.0}, tempered(4);
  double z = 0, zt = 0;
  for (int i = 0; i < 4; ++i) {
    z += std::exp(l[i]);
    zt += std::exp(l[i] / 0.5);
  }
  double u = 0.6, cdf = 0;
  int64_t expected = -1;
  for (int i = 0; i < 4 && expected < 0; ++i) {
    cdf += std::exp(l[i] / 0.5) / zt;
    if (cdf > u) expected = i;
  }
  auto s = sample_tokens(logits, chain, {}, false, {u});
  REQUIRE(s.ids[0].item<int64_t>() == expected);
  REQUIRE(s.sampling_logprobs[0].item<float>() == Approx(l[expected] / 0.5 - std::log(zt)).margin(1e-5));
  REQUIRE(s.policy_logprobs[0].item<float>() == Approx(l[expected] - std::log(z)).margin(1e-5));

  auto g = sample_tokens(logits, chain, {}, true, {});
  REQUIRE(g.ids[0].item<int64_t>() == 1);
  REQUIRE(g.sampling_logprobs[0].item<float>() == 0.0f);
  REQUIRE(g.policy_logprobs[0].item<float>() == Approx(2.0 - std::log(z)).margin(1e-5));
}

TEST_CASE("sample_tokens: a row's draw does not depend on the other rows", "[rollout][logits]") {
  torch::manual_seed(3);
  auto logits = torch::randn({3, 50});
  auto chain = LogitsChain::from_options(SamplingOptions{});
  std::vector<double> u = {0.1, 0.5, 0.93};
  auto batch = sample_tokens(logits, chain, {}, false, u);
  for (int64_t r = 0; r < 3; ++r) {
    auto alone = sample_tokens(logits.narrow(0, r, 1), chain, {}, false, {u[r]});
    REQUIRE(alone.ids[0].item<int64_t>() == batch.ids[r].item<int64_t>());
  }
}

TEST_CASE("sample_tokens: first-token frequencies match softmax(logits / T) after top-k and top-p (chi-square)",
          "[rollout][logits]") {
  const std::vector<double> l = {2.0, 1.5, 1.2, 0.3, -0.5, 0.9};
  const double T = 0.8, top_p = 0.8;
  const int64_t top_k = 4;
  // Expected distribution, computed independently: tempered softmax, keep the top 4, renormalize,
  // keep the smallest prefix reaching 0.8, renormalize.
  std::vector<int> order(l.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return l[a] > l[b]; });
  std::vector<double> expected(l.size(), 0.0);
  double z = 0;
  for (int i = 0; i < top_k; ++i) z += std::exp(l[order[i]] / T);
  double mass = 0, kept = 0;
  for (int i = 0; i < top_k && mass < top_p; ++i) {
    double p = std::exp(l[order[i]] / T) / z;
    expected[order[i]] = p;
    mass += p;
    kept += p;
  }
  for (auto& p : expected) p /= kept;

  const int64_t n = 20000;
  SamplingOptions o;
  o.temperature = T;
  o.top_k = top_k;
  o.top_p = top_p;
  std::vector<double> uniforms(n);
  for (int64_t i = 0; i < n; ++i) uniforms[i] = SplitMix64(derive_seed(1234, {static_cast<uint64_t>(i)})).uniform();
  auto logits = torch::tensor(l, torch::kDouble).to(torch::kFloat).unsqueeze(0).expand({n, -1}).contiguous();
  auto ids = sample_tokens(logits, LogitsChain::from_options(o), {}, false, uniforms).ids;
  auto counts = torch::bincount(ids, {}, static_cast<int64_t>(l.size()));
  double chi2 = 0;
  int df = -1;
  for (size_t v = 0; v < l.size(); ++v) {
    double observed = counts[v].item<int64_t>();
    if (expected[v] == 0.0) {
      INFO("token " << v << " was filtered out but drawn");
      REQUIRE(observed == 0);
      continue;
    }
    double e = expected[v] * n;
    chi2 += (observed - e) * (observed - e) / e;
    ++df;
  }
  REQUIRE(df == 2);          // three tokens survive top-k 4 then top-p 0.8 with these logits
  REQUIRE(chi2 < 13.82);     // chi-square critical value, df = 2, p = 0.001
}

TEST_CASE("parse_sampling_options: defaults, unknown keys and ranges", "[rollout][options]") {
  auto ok = JsonReader::owning(parse_json(R"({"num_generations": 4, "temperature": 0.6, "stop": ["</answer>"]})", "r.json"), "r.json");
  auto o = parse_sampling_options(ok);
  REQUIRE(o.num_generations == 4);
  REQUIRE(o.temperature == 0.6);
  REQUIRE(o.top_p == 1.0);
  REQUIRE(o.stop == std::vector<std::string>{"</answer>"});
  auto typo = JsonReader::owning(parse_json(R"({"temprature": 0.6})", "r.json"), "r.json");
  REQUIRE_THROWS_WITH(parse_sampling_options(typo), "r.json: temprature: unknown key; did you mean \"temperature\"?");
  auto bad = JsonReader::owning(parse_json(R"({"s": {"top_p": 0}})", "r.json"), "r.json");
  REQUIRE_THROWS_WITH(parse_sampling_options(bad.at("s")), "r.json: s.top_p: must be in (0, 1], got 0");
}

TEST_CASE("sample kernel: the inverse-CDF draw and both log-probs equal log_softmax, cumsum and searchsorted", "[rollout][kernels]") {
  torch::manual_seed(11);
  const int64_t rows = 64, V = 1000;  // V not a multiple of 16: a partial last block
  auto raw = torch::randn({rows, V}) * 3;
  auto processed = raw / 0.7;
  // Filtered tokens (-inf), including the first ones of a row, as top-k / banned tokens leave them.
  processed.narrow(1, 0, 5).fill_(-std::numeric_limits<float>::infinity());
  auto filter = torch::rand({rows, V}) < 0.3;
  processed.masked_fill_(filter, -std::numeric_limits<float>::infinity());
  processed.select(1, 7).fill_(1.0);  // every row keeps at least one token
  std::vector<double> u(rows);
  SplitMix64 rng(3);
  for (auto& x : u) x = rng.uniform();
  u[0] = 0.0;            // the first token with mass
  u[1] = 1.0 - 1e-12;    // the last token with mass
  std::vector<int64_t> ids(rows);
  std::vector<float> sampling(rows), policy(rows);
  rollout::kernels::sample_rows(processed.data_ptr<float>(), raw.data_ptr<float>(), rows, V, u.data(), ids.data(),
                                sampling.data(), policy.data());
  // Reference: the ATen formulation sample_tokens uses off the CPU.
  auto logp = torch::log_softmax(processed, 1);
  auto cdf = logp.exp().to(torch::kDouble).cumsum(1);
  auto target = (torch::tensor(u, torch::kDouble) * cdf.select(1, V - 1)).unsqueeze(1);
  auto ref_ids = torch::searchsorted(cdf, target, false, true).squeeze(1).clamp_max(V - 1);
  auto raw_logp = torch::log_softmax(raw, 1);
  // Log-probs to 1e-5, from the arithmetic of either side: z - max z (|z| < 25 here) rounds by up
  // to 2^-24 * 32 = 2e-6; log s carries the relative error of s, a sum of 16-term fp32 blocks
  // (gamma_16 < 1e-6) of exps off by ~4 u (5e-7); LibTorch's fp32 log_softmax errs as much again.
  // Run under every ZEROTH_CPU_ISA level (kernels_rollout_isa_<level>): plain, AVX2 and AVX-512 loops.
  for (int64_t r = 0; r < rows; ++r) {
    INFO("row " << r);
    const int64_t id = ids[r];
    REQUIRE(id == ref_ids[r].item<int64_t>());
    REQUIRE(std::isfinite(processed[r][id].item<float>()));
    REQUIRE(sampling[r] == Approx(logp[r][id].item<float>()).margin(1e-5));
    REQUIRE(policy[r] == Approx(raw_logp[r][id].item<float>()).margin(1e-5));
  }
  auto finite = torch::isfinite(processed[0]).nonzero().view(-1);
  REQUIRE(ids[0] == finite[0].item<int64_t>());
  REQUIRE(ids[1] == torch::isfinite(processed[1]).nonzero().view(-1)[-1].item<int64_t>());
}
