// `zeroth bench model`: the decoder alone on a random-init model (default: the Qwen2.5-0.5B shape):
// prefill tokens/s (batch 1, through the KV cache as the sampler runs it), single-token decode
// latency (batch 1), forward + backward tokens/s of chunked completion log-probs over a
// batch x length scoring batch (the GRPO policy update's shape), and peak resident memory after each
// part. Prints one JSON object; best and median of --repeats runs.
#include <algorithm>
#include <chrono>
#include <iostream>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "cli/bench_common.h"
#include "cli/commands.h"
#include "zeroth/core/device.h"
#include "zeroth/core/json.h"
#include "zeroth/model/checkpoint.h"
#include "zeroth/model/config.h"
#include "zeroth/model/kv_cache.h"
#include "zeroth/model/logprobs.h"
#include "zeroth/model/transformer.h"

namespace zeroth::cli {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct BenchModelArgs {
  std::string config, model, dtype = "bf16", device = "cpu";
  int64_t prompt_len = 256, decode_tokens = 16, score_batch = 16, score_len = 512, chunk = model::kLogprobChunk;
  int64_t repeats = 3, threads = 0;
  bool checkpointing = false, skip_score = false;
  uint64_t seed = 0;
};

// "best" is the largest value for rates, the smallest for times.
Json best_median(std::vector<double> v, bool higher_is_better) {
  std::sort(v.begin(), v.end());
  return Json{{"best", higher_is_better ? v.back() : v.front()}, {"median", v[v.size() / 2]}, {"runs", v.size()}};
}

void run_bench_model(const BenchModelArgs& a) {
  if (a.threads > 0) torch::set_num_threads(static_cast<int>(a.threads));
  auto device = parse_device(a.device);
  auto dtype = parse_dtype(a.dtype);
  auto [m, source] = load_bench_model(a.config, a.model, dtype, device, a.seed);
  m->eval();
  const auto& cfg = m->config();
  const int64_t V = cfg.vocab_size;
  spdlog::info("bench model: {} ({} parameters), {} on {}, {} threads", source, cfg.num_parameters(), a.dtype,
               a.device, torch::get_num_threads());
  Json out{{"benchmark", "model"}, {"model", source}, {"parameters", cfg.num_parameters()}, {"dtype", a.dtype},
           {"device", a.device}, {"threads", torch::get_num_threads()}, {"torch", TORCH_VERSION}};
  out["rss_after_load_bytes"] = peak_rss_bytes();
  const int64_t R = std::max<int64_t>(1, a.repeats);

  // Prefill and decode, batch 1, through the KV cache.
  {
    torch::NoGradGuard no_grad;
    model::KvCache cache(cfg, 1, a.prompt_len + a.decode_tokens + 1, dtype, device);
    auto prompt = torch::randint(0, V, {1, a.prompt_len}, torch::kLong);
    std::vector<double> prefill, decode_ms;
    for (int64_t r = 0; r < R + 1; ++r) {  // the first run warms up
      cache.reset(0);
      auto t0 = Clock::now();
      m->hidden_states_cached(prompt, cache, {0}, {a.prompt_len});
      double s = seconds_since(t0);
      std::vector<double> steps;
      auto next = torch::randint(0, V, {1, 1}, torch::kLong);
      for (int64_t i = 0; i < a.decode_tokens; ++i) {
        auto t1 = Clock::now();
        auto logits = m->forward_cached(next, cache, {0});
        next = logits.argmax(-1, true).to(torch::kCPU);
        steps.push_back(1000.0 * seconds_since(t1));
      }
      if (r == 0) continue;
      prefill.push_back(a.prompt_len / s);
      std::sort(steps.begin(), steps.end());
      decode_ms.push_back(steps[steps.size() / 2]);
    }
    out["prefill_prompt_len"] = a.prompt_len;
    out["prefill_tokens_per_s"] = best_median(prefill, true);
    out["decode_ms_per_token"] = best_median(decode_ms, false);
    out["decode_tokens_per_s_best"] = 1000.0 / *std::min_element(decode_ms.begin(), decode_ms.end());
    out["rss_after_decode_bytes"] = peak_rss_bytes();
  }

  // Forward + backward of chunked completion log-probs over score_batch x score_len tokens.
  if (!a.skip_score) {
    m->train();
    m->set_gradient_checkpointing(a.checkpointing);
    for (auto& p : m->parameters()) p.set_requires_grad(true);
    auto ids = torch::randint(0, V, {a.score_batch, a.score_len}, torch::kLong).to(device);
    const int64_t T = a.score_len;
    std::vector<double> tps, fwd_s, bwd_s;
    for (int64_t r = 0; r < R; ++r) {
      m->zero_grad();
      auto t0 = Clock::now();
      auto h = m->hidden_states(ids);  // [B, T, C]
      auto lp = model::token_logprobs(h.narrow(1, 0, T - 1), m->lm_head_weight(), ids.narrow(1, 1, T - 1), a.chunk);
      auto loss = -lp.mean();
      loss.item<double>();
      double f = seconds_since(t0);
      auto t1 = Clock::now();
      loss.backward();
      double b = seconds_since(t1);
      fwd_s.push_back(f);
      bwd_s.push_back(b);
      tps.push_back(a.score_batch * a.score_len / (f + b));
    }
    out["score_batch"] = a.score_batch;
    out["score_len"] = a.score_len;
    out["logprob_chunk"] = a.chunk;
    out["gradient_checkpointing"] = a.checkpointing;
    out["forward_backward_tokens_per_s"] = best_median(tps, true);
    out["forward_s"] = best_median(fwd_s, false);
    out["backward_s"] = best_median(bwd_s, false);
    out["rss_after_score_bytes"] = peak_rss_bytes();
    // What materialized logits would cost: [B, T, V] fp32.
    out["full_logits_bytes_avoided"] = a.score_batch * a.score_len * V * 4;
  }
  out["peak_rss_bytes"] = peak_rss_bytes();
  std::cout << out.dump() << std::endl;
}

}  // namespace

void add_bench_model_command(CLI::App& bench) {
  auto a = std::make_shared<BenchModelArgs>();
  CLI::App* sub = bench.add_subcommand("model", "Prefill, decode and forward+backward of a decoder");
  sub->add_option("--config", a->config, "config.json of a random-init model (default: Qwen2.5-0.5B shape)");
  sub->add_option("--model", a->model, "A model directory instead of a random model");
  sub->add_option("--dtype", a->dtype, "fp32 | bf16")->capture_default_str();
  sub->add_option("--device", a->device, "cpu | cuda[:N]")->capture_default_str();
  sub->add_option("--prompt-len", a->prompt_len, "Prefill tokens")->capture_default_str();
  sub->add_option("--decode-tokens", a->decode_tokens, "Decode steps timed per run")->capture_default_str();
  sub->add_option("--score-batch", a->score_batch, "Sequences in the forward+backward batch")->capture_default_str();
  sub->add_option("--score-len", a->score_len, "Tokens per sequence in the forward+backward batch")->capture_default_str();
  sub->add_option("--chunk", a->chunk, "Positions per log-prob chunk")->capture_default_str();
  sub->add_option("--repeats", a->repeats, "Timed runs (best and median reported)")->capture_default_str();
  sub->add_flag("--checkpointing", a->checkpointing, "Gradient checkpointing per layer in forward+backward");
  sub->add_flag("--skip-score", a->skip_score, "Only prefill and decode");
  sub->add_option("--threads", a->threads, "Intra-op threads (0: LibTorch's default)");
  sub->add_option("--seed", a->seed)->capture_default_str();
  on_parsed(sub, [a] { run_bench_model(*a); });
}

}  // namespace zeroth::cli
