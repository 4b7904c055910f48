// Continuous-batching group sampler over the model's KV cache. See sampler.h for the scheme.
// Shapes: S slots, L live rows, V vocabulary, P prompt length.
#include "zeroth/rollout/sampler.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include <spdlog/spdlog.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include "zeroth/core/error.h"
#include "zeroth/core/memory.h"
#include "zeroth/core/random.h"
#include "zeroth/model/kv_cache.h"
#include "zeroth/rollout/logits_processors.h"

namespace zeroth::rollout {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One slot's sample in flight.
struct Active {
  int64_t prompt = -1;
  int64_t next_input = -1;  // token fed at the next decode step
  SplitMix64 rng{0};
  Completion out;
  std::unique_ptr<text::DecodeStream> stream;
  Clock::time_point start;
  bool got_first_token = false;
};

// Earliest occurrence of any stop string that ends in the text added since `old_size`.
std::optional<size_t> find_stop(const std::string& text, size_t old_size, const std::vector<std::string>& stops) {
  std::optional<size_t> best;
  for (const auto& stop : stops) {
    size_t from = old_size >= stop.size() ? old_size - stop.size() + 1 : 0;
    size_t at = text.find(stop, from);
    if (at != std::string::npos && (!best || at < *best)) best = at;
  }
  return best;
}

}  // namespace

Sampler::Sampler(model::TransformerImpl& model, const text::Tokenizer* tokenizer, SamplerConfig config)
    : model_(model), tokenizer_(tokenizer), config_(std::move(config)) {
  if (config_.num_slots < 1) throw Error(cat("sampler: num_slots must be at least 1, got ", config_.num_slots));
}

RolloutResult Sampler::sample_groups(const std::vector<std::vector<int64_t>>& prompts, const SamplingOptions& options,
                                     const std::function<void(int64_t, int64_t)>& on_progress) {
  validate_sampling_options(options, "sampling.");
  if (!options.stop.empty() && !tokenizer_) throw Error("sampling.stop: stop strings need a tokenizer");
  const int64_t G = options.num_generations;
  const int64_t N = static_cast<int64_t>(prompts.size());
  const int64_t S = config_.num_slots;
  const int64_t V = model_.config().vocab_size;
  int64_t max_prompt = 0;
  for (int64_t i = 0; i < N; ++i) {
    if (prompts[i].empty()) throw Error(cat("prompt ", i, " is empty: a prompt needs at least one token"));
    for (int64_t id : prompts[i]) {
      if (id < 0 || id >= V) throw Error(cat("prompt ", i, ": token id ", id, " is outside the vocabulary (", V, ")"));
    }
    max_prompt = std::max<int64_t>(max_prompt, static_cast<int64_t>(prompts[i].size()));
  }
  RolloutResult result;
  result.stats.prompts = N;
  if (N == 0) return result;
  const int64_t max_len = max_prompt + options.max_new_tokens;
  const auto& cfg = model_.config();
  if (max_len > cfg.max_position_embeddings) {
    throw Error(cat("the longest prompt (", max_prompt, " tokens) + max_new_tokens (", options.max_new_tokens, ") = ",
                    max_len, " positions, more than the model's max_position_embeddings (", cfg.max_position_embeddings,
                    "): shorten the prompts or lower max_new_tokens"));
  }

  std::set<int64_t> eos(model_.config().eos_token_ids.begin(), model_.config().eos_token_ids.end());
  eos.insert(options.eos_token_ids.begin(), options.eos_token_ids.end());
  if (tokenizer_ && tokenizer_->eos_token_id()) eos.insert(*tokenizer_->eos_token_id());

  torch::NoGradGuard no_grad;
  const auto device = model_.device();
  // Ids past the tokenizer's vocabulary (padded embedding rows, as Qwen's 151,936 vs 151,665) cannot
  // be decoded: never draw them when there is a tokenizer.
  SamplingOptions chain_options = options;
  if (tokenizer_ && tokenizer_->vocab_size() < V) {
    for (int64_t id = tokenizer_->vocab_size(); id < V; ++id) chain_options.banned_token_ids.push_back(id);
  }
  const LogitsChain chain = LogitsChain::from_options(chain_options);
  const auto cache_dtype = config_.cache_dtype.value_or(model_.dtype());
  {
    // Before allocating: the cache is slots x positions for every layer, the penalty history slots x vocab.
    const uint64_t kv_bytes = static_cast<uint64_t>(S) * max_len * cfg.num_hidden_layers * 2 * cfg.num_key_value_heads *
                              cfg.head_dim * c10::elementSize(cache_dtype);
    const uint64_t history_bytes = static_cast<uint64_t>(chain.needs_history() ? S : 0) * V * (sizeof(bool) + sizeof(float));
    require_memory(kv_bytes + history_bytes, device,
                   cat("sampling (a KV cache of ", S, " slots x ", max_len, " positions x ", cfg.num_hidden_layers,
                       " layers", history_bytes ? ", and a penalty history of slots x vocabulary" : "", ")"),
                   "lower the slot count (--slots, num_slots), the completions per prompt, max_new_tokens or the "
                   "prompt length");
  }
  model::KvCache cache(model_.config(), S, max_len, cache_dtype, device);
  TokenHistory history(S, V, chain.needs_history(), device);
  const bool greedy = options.temperature == 0.0;
  const auto long_cpu = torch::TensorOptions().dtype(torch::kLong);

  std::deque<std::pair<int64_t, int64_t>> pending;  // (prompt, sample)
  for (int64_t p = 0; p < N; ++p) {
    for (int64_t g = 0; g < G; ++g) pending.emplace_back(p, g);
  }
  std::vector<Active> slots(S);
  std::vector<bool> live(S, false);
  std::vector<std::optional<Completion>> done(N * G);
  int64_t finished = 0;
  double occupancy_sum = 0.0, ttft_sum = 0.0;

  std::unique_ptr<torch::autograd::profiler::RecordProfile> profile;
  while (finished < N * G) {
    // 1. Refill free slots with pending samples. A slot whose prompt is already cached in another
    //    slot copies that cache; the first slot of a prompt gets a prefill.
    std::vector<int64_t> prefill_slots;
    std::map<int64_t, std::vector<int64_t>> copies;  // source slot -> new slots
    std::vector<bool> copy_target(S, false);         // filled by a copy this round: not a source yet
    for (int64_t s = 0; s < S && !pending.empty(); ++s) {
      if (live[s]) continue;
      auto [p, g] = pending.front();
      pending.pop_front();
      Active& a = slots[s];
      a = Active();
      a.prompt = p;
      a.next_input = prompts[p].back();
      a.rng = SplitMix64(derive_seed(options.seed, {static_cast<uint64_t>(p), static_cast<uint64_t>(g)}));
      a.out.prompt_index = p;
      a.out.sample_index = g;
      if (tokenizer_) a.stream = std::make_unique<text::DecodeStream>(*tokenizer_);
      a.start = Clock::now();
      cache.reset(s);
      history.reset_row(s, prompts[p]);
      int64_t source = -1;
      for (int64_t q = 0; q < S && prompts[p].size() > 1; ++q) {
        if (live[q] && slots[q].prompt == p && !copy_target[q]) {
          source = q;
          break;
        }
      }
      if (prompts[p].size() == 1) {
        // Nothing to prefill: the only prompt token is the first decode input.
      } else if (source >= 0) {
        copies[source].push_back(s);
        copy_target[s] = true;
      } else {
        prefill_slots.push_back(s);
      }
      live[s] = true;
    }

    // 2. Prefill prompt[:P-1] of new prompts, right-padded into one batch.
    if (!prefill_slots.empty()) {
      auto t0 = Clock::now();
      int64_t width = 0;
      std::vector<int64_t> num_new;
      for (int64_t s : prefill_slots) {
        num_new.push_back(static_cast<int64_t>(prompts[slots[s].prompt].size()) - 1);
        width = std::max(width, num_new.back());
      }
      auto ids = torch::zeros({static_cast<int64_t>(prefill_slots.size()), width}, long_cpu);  // [n, P-1]
      auto acc = ids.accessor<int64_t, 2>();
      for (size_t i = 0; i < prefill_slots.size(); ++i) {
        const auto& prompt = prompts[slots[prefill_slots[i]].prompt];
        for (int64_t t = 0; t < num_new[i]; ++t) acc[i][t] = prompt[t];
        result.stats.prefill_tokens += num_new[i];
      }
      model_.hidden_states_cached(ids.to(device), cache, prefill_slots, num_new);
      result.stats.prefill_seconds += seconds_since(t0);
    }
    for (const auto& [source, targets] : copies) {
      cache.copy_prefix(source, targets);
      const int64_t prefix = static_cast<int64_t>(prompts[slots[source].prompt].size()) - 1;
      for (int64_t s : targets) cache.truncate(s, prefix);
    }

    // 3. One decode step over every live slot.
    // ZEROTH_PROFILE_DECODE=FILE: a Chrome trace of decode steps 8-11 of each call, written to
    // FILE.<live rows>.json, for docs/benchmarks.md's profiles.
    if (const char* trace = std::getenv("ZEROTH_PROFILE_DECODE")) {
      if (result.stats.decode_steps == 8) {
        int64_t live_rows = std::count(live.begin(), live.end(), true);
        profile = std::make_unique<torch::autograd::profiler::RecordProfile>(
            cat(trace, ".", live_rows, ".json"));
      } else if (result.stats.decode_steps == 12) {
        profile.reset();
      }
    }
    auto t0 = Clock::now();
    std::vector<int64_t> rows;
    for (int64_t s = 0; s < S; ++s) {
      if (live[s]) rows.push_back(s);
    }
    const int64_t L = static_cast<int64_t>(rows.size());
    auto input = torch::empty({L, 1}, long_cpu);  // [L, 1]
    for (int64_t i = 0; i < L; ++i) input[i][0] = slots[rows[i]].next_input;
    auto logits = model_.forward_cached(input.to(device), cache, rows);  // [L, V] fp32

    auto ts = Clock::now();
    std::vector<double> uniforms;
    if (!greedy) {
      for (int64_t s : rows) uniforms.push_back(slots[s].rng.uniform());
    }
    TokenHistory live_history;
    if (history.enabled()) {
      auto index = torch::tensor(rows, long_cpu).to(device);
      live_history.seen = history.seen.index_select(0, index);
      live_history.output_counts = history.output_counts.index_select(0, index);
    }
    SampledTokens next = sample_tokens(logits, chain, live_history, greedy, uniforms);
    auto ids = next.ids.to(torch::kCPU);
    auto policy_lp = next.policy_logprobs.to(torch::kCPU);
    auto sampling_lp = next.sampling_logprobs.to(torch::kCPU);
    if (history.enabled()) {
      auto all = torch::full({S}, -1, long_cpu);
      all.index_copy_(0, torch::tensor(rows, long_cpu), ids);
      history.append(all.to(device));
    }
    result.stats.sample_seconds += seconds_since(ts);
    result.stats.decode_steps += 1;
    result.stats.decode_tokens += L;
    result.stats.peak_live = std::max(result.stats.peak_live, L);
    occupancy_sum += static_cast<double>(L) / static_cast<double>(S);

    const int64_t* id_data = ids.data_ptr<int64_t>();
    const float* policy_data = policy_lp.data_ptr<float>();
    const float* sampling_data = sampling_lp.data_ptr<float>();
    for (int64_t i = 0; i < L; ++i) {
      const int64_t s = rows[i];
      Active& a = slots[s];
      const int64_t token = id_data[i];
      if (!a.got_first_token) {
        a.got_first_token = true;
        ttft_sum += seconds_since(a.start);
      }
      a.out.ids.push_back(token);
      a.out.logprobs.push_back(policy_data[i]);
      a.out.sampling_logprobs.push_back(sampling_data[i]);
      a.next_input = token;

      std::string reason;
      if (eos.count(token)) {
        reason = "stop";
        if (a.stream) a.out.text += a.stream->flush();
      } else if (a.stream) {
        size_t old_size = a.out.text.size();
        a.out.text += a.stream->step(static_cast<int32_t>(token));
        if (auto at = find_stop(a.out.text, old_size, options.stop)) {
          a.out.text.resize(*at);
          reason = "stop";
        }
      }
      if (reason.empty() && static_cast<int64_t>(a.out.ids.size()) >= options.max_new_tokens) {
        reason = "length";
        if (a.stream) a.out.text += a.stream->flush();
      }
      if (reason.empty()) continue;

      a.out.finish_reason = reason;
      a.out.seconds = seconds_since(a.start);
      const int64_t index = a.out.prompt_index * G + a.out.sample_index;
      done[index] = std::move(a.out);
      a = Active();
      live[s] = false;
      cache.reset(s);
      ++finished;
      if (on_progress) on_progress(finished, N * G);
    }
    result.stats.decode_seconds += seconds_since(t0);
  }

  result.completions.reserve(N * G);
  for (auto& c : done) result.completions.push_back(std::move(*c));
  result.stats.completions = N * G;
  result.stats.time_to_first_token = ttft_sum / static_cast<double>(N * G);
  result.stats.slot_occupancy = result.stats.decode_steps ? occupancy_sum / result.stats.decode_steps : 0.0;
  return result;
}

}  // namespace zeroth::rollout
