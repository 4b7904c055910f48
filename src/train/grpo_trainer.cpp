// The GRPO training loop. See grpo_trainer.h.
#include "zeroth/train/grpo_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <numeric>

#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include "zeroth/core/error.h"
#include "zeroth/core/metrics.h"
#include "zeroth/core/progress.h"
#include "zeroth/core/random.h"
#include "zeroth/rollout/sampler.h"
#include "zeroth/train/batching.h"
#include "zeroth/train/checkpoints.h"
#include "zeroth/train/schedule.h"
#include "zeroth/train/tensorboard.h"

namespace zeroth::train {

namespace fs = std::filesystem;

GrpoOptions GrpoOptions::from_json(const JsonReader& r) {
  GrpoOptions o;
  o.steps = r.get_or<int64_t>("steps", o.steps);
  o.prompts_per_step = r.get_or<int64_t>("prompts_per_step", o.prompts_per_step);
  if (r.has("sampling")) o.sampling = rollout::parse_sampling_options(r.at("sampling"));
  rollout::validate_sampling_options(o.sampling, r.where("sampling") + ".");
  o.num_slots = r.get_or<int64_t>("num_slots", o.num_slots);
  o.mu = r.get_or<int64_t>("mu", o.mu);
  o.mini_batches = r.get_or<int64_t>("mini_batches", o.mini_batches);
  o.micro_batch_tokens = r.get_or<int64_t>("micro_batch_tokens", o.micro_batch_tokens);
  o.logprob_chunk = r.get_or<int64_t>("logprob_chunk", o.logprob_chunk);
  if (r.has("advantage")) o.advantage = algo::AdvantageOptions::from_json(r.at("advantage"));
  if (r.has("loss")) o.loss = algo::LossOptions::from_json(r.at("loss"));
  if (r.has("optimizer")) o.optimizer = OptimizerOptions::from_json(r.at("optimizer"));
  o.dynamic_sampling = r.get_or<bool>("dynamic_sampling", o.dynamic_sampling);
  o.max_resample_rounds = r.get_or<int64_t>("max_resample_rounds", o.max_resample_rounds);
  o.save_every = r.get_or<int64_t>("save_every", o.save_every);
  o.save_minutes = r.get_or<double>("save_minutes", o.save_minutes);
  if (o.save_every < 0) r.fail("save_every: expected >= 0 (0: no step-count checkpoints)");
  if (!(o.save_minutes >= 0)) r.fail("save_minutes: expected >= 0 (0: no time-based checkpoints)");
  o.eval_every = r.get_or<int64_t>("eval_every", o.eval_every);
  o.samples_every = r.get_or<int64_t>("samples_every", o.samples_every);
  o.samples_prompts = r.get_or<int64_t>("samples_prompts", o.samples_prompts);
  o.gradient_checkpointing = r.get_or<bool>("gradient_checkpointing", o.gradient_checkpointing);
  if (o.steps < 1) r.fail("steps: expected >= 1");
  if (o.prompts_per_step < 1) r.fail("prompts_per_step: expected >= 1");
  if (o.sampling.num_generations < 2) r.fail("sampling.num_generations: GRPO needs groups of at least 2 completions");
  if (o.sampling.temperature <= 0) r.fail("sampling.temperature: GRPO needs sampling (temperature > 0); greedy groups are all equal");
  if (o.mu < 1) r.fail("mu: expected >= 1");
  if (o.mini_batches < 1) r.fail("mini_batches: expected >= 1");
  if (o.mini_batches > o.prompts_per_step * o.sampling.num_generations) {
    r.fail("mini_batches: more mini-batches than completions per step");
  }
  if (o.micro_batch_tokens < 1) r.fail("micro_batch_tokens: expected >= 1");
  if (o.logprob_chunk < 1) r.fail("logprob_chunk: expected >= 1");
  if (o.max_resample_rounds < 0) r.fail("max_resample_rounds: expected >= 0");
  return o;
}

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The epoch-shuffled order of the training prompts; its position is part of the training state.
class PromptOrder {
 public:
  PromptOrder(int64_t size, uint64_t seed) : size_(size), seed_(seed) { shuffle(); }
  int64_t next() {
    if (index_ >= size_) {
      ++epoch_;
      index_ = 0;
      shuffle();
    }
    return order_[static_cast<size_t>(index_++)];
  }
  Json state() const { return {{"epoch", epoch_}, {"index", index_}}; }
  void restore(const Json& s) {
    epoch_ = s.at("epoch").get<int64_t>();
    index_ = s.at("index").get<int64_t>();
    shuffle();
  }
  int64_t epoch() const { return epoch_; }

 private:
  void shuffle() {
    order_.resize(static_cast<size_t>(size_));
    std::iota(order_.begin(), order_.end(), 0);
    SplitMix64 rng(derive_seed(seed_, {0xDA7A, static_cast<uint64_t>(epoch_)}));
    for (int64_t i = size_ - 1; i > 0; --i) std::swap(order_[i], order_[rng.below(static_cast<uint64_t>(i + 1))]);
  }
  int64_t size_, epoch_ = 0, index_ = 0;
  uint64_t seed_;
  std::vector<int64_t> order_;
};

struct Rollout {
  int64_t prompt = 0;                  // index into the training prompts
  rollout::Completion completion;
  rewards::RewardResult reward;
  bool unscorable = false;
};

// [B, C] from per-row float vectors (padding 0).
torch::Tensor pad_rows(const std::vector<std::vector<float>>& values, const std::vector<int64_t>& rows, int64_t width,
                       torch::Device device) {
  auto out = torch::zeros({static_cast<int64_t>(rows.size()), width}, torch::kFloat);
  auto a = out.accessor<float, 2>();
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& v = values[static_cast<size_t>(rows[i])];
    for (size_t t = 0; t < v.size() && static_cast<int64_t>(t) < width; ++t) a[static_cast<int64_t>(i)][static_cast<int64_t>(t)] = v[t];
  }
  return out.to(device);
}

std::vector<float> row_values(const torch::Tensor& padded_row, int64_t length) {
  auto cpu = padded_row.narrow(0, 0, length).to(torch::kCPU, torch::kFloat).contiguous();
  return std::vector<float>(cpu.data_ptr<float>(), cpu.data_ptr<float>() + length);
}

// Log-probs of every sequence's completion under `model` without gradients, in micro-batches.
std::vector<std::vector<float>> score_sequences(model::TransformerImpl& model, const std::vector<Sequence>& seqs,
                                                const GrpoOptions& o) {
  torch::NoGradGuard no_grad;
  std::vector<std::vector<float>> out(seqs.size());
  std::vector<int64_t> rows(seqs.size());
  std::iota(rows.begin(), rows.end(), 0);
  for (const auto& micro : split_by_tokens(seqs, rows, o.micro_batch_tokens)) {
    auto batch = pad_batch(seqs, micro, model.device());
    auto lp = completion_logprobs(model, batch, o.logprob_chunk);
    for (size_t i = 0; i < micro.size(); ++i) {
      out[static_cast<size_t>(micro[i])] =
          row_values(lp[static_cast<int64_t>(i)], static_cast<int64_t>(seqs[static_cast<size_t>(micro[i])].completion.size()));
    }
  }
  return out;
}

double mean_of(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}
double std_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  double m = mean_of(v), s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size()));
}

bool all_finite(const torch::nn::Module& module) {
  for (const auto& p : module.parameters()) {
    if (!torch::isfinite(p).all().item<bool>()) return false;
  }
  return true;
}

}  // namespace

Json train_grpo(const GrpoRun& run, const GrpoOptions& o) {
  ZEROTH_CHECK(run.policy && run.tokenizer && run.rules, "train_grpo: policy, tokenizer and rules are required");
  if (o.loss.needs_reference() && run.reference == nullptr) {
    throw Error("GRPO with loss.beta > 0 needs a reference model");
  }
  if (run.train.ids.empty()) throw Error("GRPO: the training set has no prompts");
  model::TransformerImpl& policy = *run.policy;
  const int64_t G = o.sampling.num_generations;
  const int64_t slots = o.num_slots > 0 ? o.num_slots : o.prompts_per_step * G;

  fs::create_directories(run.dir);
  Checkpoints checkpoints(run.dir + "/checkpoints");
  CheckpointSchedule schedule(o.save_every, o.save_minutes);
  Distributed single_process;                                   // [dist] no-op when run.dist is null
  Distributed& dist = run.dist ? *run.dist : single_process;    // [dist]
  dist.broadcast_parameters(policy);  // [dist] rank 0's weights, before AdamW copies its fp32 masters
  AdamW optimizer(policy, o.optimizer);
  if (o.prompts_per_step < dist.world()) {                      // [dist]
    throw Error(cat("GRPO: prompts_per_step ", o.prompts_per_step, " is below the world size ", dist.world(),
                    " (every rank needs at least one prompt group per step)"));
  }
  optimizer.shard(dist);                                        // [dist] ZeRO-1
  const int64_t total_updates = o.steps * o.mu * o.mini_batches;
  NonFiniteGuard guard(o.optimizer.max_consecutive_skips);
  PromptOrder order(static_cast<int64_t>(run.train.ids.size()), run.seed);
  int64_t start_step = 0;
  int64_t skipped_total = 0;  // updates skipped for NaN/Inf (the schedule still advances)
  if (run.resume) {
    if (auto latest = checkpoints.latest()) {
      start_step = checkpoints.restore(*latest, optimizer);
      order.restore(latest->state.at("data"));
      skipped_total = latest->state.value("skipped_updates", int64_t{0});
      spdlog::info("resuming GRPO from {} (step {})", latest->dir, start_step);
    } else {
      spdlog::info("--resume: no checkpoint in {}; starting at step 0", checkpoints.dir());
    }
  }
  // A resumed run redoes the steps after its checkpoint: their old lines go first.
  if (dist.is_main()) {  // [dist] rank 0 alone writes metrics and samples
    truncate_metrics_after(run.dir + "/metrics.jsonl", start_step, start_step == o.steps);
    truncate_metrics_after(run.dir + "/samples.jsonl", start_step);
  }
  MetricsWriter metrics(dist.is_main() ? run.dir + "/metrics.jsonl" : "/dev/null", start_step == 0);  // [dist]
  MetricsWriter samples(dist.is_main() ? run.dir + "/samples.jsonl" : "/dev/null", start_step == 0);  // [dist]
  // TensorBoard events and progress lines: rank 0 only.
  std::unique_ptr<TensorBoardWriter> tensorboard;
  if (dist.is_main()) tensorboard = std::make_unique<TensorBoardWriter>(run.dir);
  Progress progress({.label = "grpo", .total = o.steps - start_step, .unit = "steps"});
  policy.set_gradient_checkpointing(o.gradient_checkpointing);

  Json last_eval;
  auto run_eval = [&](int64_t step) {
    last_eval = evaluate_and_record(policy, *run.tokenizer, run.eval, *run.rules, run.eval_options, step, metrics,
                                    tensorboard.get());
  };
  if (start_step == 0 && o.eval_every > 0) run_eval(0);

  for (int64_t step = start_step + 1; step <= o.steps; ++step) {
    const auto step_start = Clock::now();
    double time_sample = 0, time_reward = 0;
    int64_t sampled_tokens = 0;

    // 1-3. Rollouts and rewards; with dynamic sampling, zero-variance groups are replaced.
    std::vector<std::vector<Rollout>> groups;
    int64_t groups_seen = 0, zero_std_seen = 0;
    for (int64_t round = 0; round <= (o.dynamic_sampling ? o.max_resample_rounds : 0); ++round) {
      // [dist] This rank's share of the step's groups; every rank draws all ranks' needs from the same
      // order and keeps its own slice, so groups never straddle ranks and the order stays in step.
      const int64_t share = o.prompts_per_step * (dist.rank() + 1) / dist.world() - o.prompts_per_step * dist.rank() / dist.world();
      const int64_t need = std::max<int64_t>(0, share - static_cast<int64_t>(groups.size()));
      std::vector<double> needs(static_cast<size_t>(dist.world()), 0.0);
      needs[static_cast<size_t>(dist.rank())] = static_cast<double>(need);
      dist.all_reduce_sum(needs);
      const auto total_need = static_cast<int64_t>(std::accumulate(needs.begin(), needs.end(), 0.0));
      const auto skip = static_cast<int64_t>(std::accumulate(needs.begin(), needs.begin() + dist.rank(), 0.0));
      if (total_need <= 0) break;
      std::vector<int64_t> picked;
      std::vector<std::vector<int64_t>> prompt_ids;
      for (int64_t i = 0; i < total_need; ++i) {
        const int64_t next = order.next();
        if (i < skip || i >= skip + need) continue;
        picked.push_back(next);
        prompt_ids.push_back(run.train.ids[static_cast<size_t>(picked.back())]);
      }
      if (need == 0) continue;  // [dist] this rank's share is full; the others sample more
      auto ts = Clock::now();
      rollout::SamplingOptions s = o.sampling;
      s.seed = derive_seed(run.seed, {0x5A3F, static_cast<uint64_t>(step), static_cast<uint64_t>(round)});
      if (dist.world() > 1) s.seed = derive_seed(s.seed, {static_cast<uint64_t>(dist.rank())});  // [dist]
      policy.eval();
      rollout::RolloutResult rr;
      {
        torch::NoGradGuard no_grad;
        rollout::Sampler sampler(policy, run.tokenizer, {.num_slots = std::max(slots, G)});
        rr = sampler.sample_groups(prompt_ids, s);
      }
      time_sample += since(ts);
      sampled_tokens += rr.stats.decode_tokens;

      auto tr = Clock::now();
      std::vector<rewards::RewardInput> inputs;
      for (const auto& c : rr.completions) inputs.emplace_back(c.text, run.train.examples[static_cast<size_t>(picked[c.prompt_index])]);
      auto results = run.rules->score_batch(inputs);
      time_reward += since(tr);

      for (int64_t p = 0; p < need; ++p) {
        std::vector<Rollout> group;
        std::vector<double> scorable;
        for (int64_t g = 0; g < G; ++g) {
          const size_t i = static_cast<size_t>(p * G + g);
          Rollout r{picked[static_cast<size_t>(p)], std::move(rr.completions[i]), std::move(results[i]), false};
          auto acc = component(r.reward, "accuracy");
          bool any = false;
          for (const auto& [name, v] : r.reward.components) any = any || v.has_value();
          r.unscorable = !any || (std::any_of(r.reward.components.begin(), r.reward.components.end(),
                                              [](const auto& c) { return c.first == "accuracy"; }) && !acc);
          if (!r.unscorable) scorable.push_back(r.reward.total);
          group.push_back(std::move(r));
        }
        ++groups_seen;
        const bool zero_std = scorable.size() < 2 ||
                              std::all_of(scorable.begin(), scorable.end(), [&](double x) { return x == scorable[0]; });
        zero_std_seen += zero_std;
        const bool last_round = round == (o.dynamic_sampling ? o.max_resample_rounds : 0);
        if (o.dynamic_sampling && zero_std && !last_round) continue;
        groups.push_back(std::move(group));
        if (static_cast<int64_t>(groups.size()) >= share) break;  // [dist] share == prompts_per_step on one rank
      }
    }

    // 4. Advantages over the kept groups.
    const int64_t N = static_cast<int64_t>(groups.size());
    auto rewards_t = torch::zeros({N * G}, torch::kDouble);
    auto unscorable_t = torch::zeros({N * G}, torch::kBool);
    auto lengths_t = torch::zeros({N * G}, torch::kDouble);
    std::vector<Sequence> seqs;
    std::vector<std::vector<float>> sampler_lp;
    std::vector<const Rollout*> flat;
    for (int64_t p = 0; p < N; ++p) {
      for (int64_t g = 0; g < G; ++g) {
        const Rollout& r = groups[static_cast<size_t>(p)][static_cast<size_t>(g)];
        rewards_t[p * G + g] = r.reward.total;
        unscorable_t[p * G + g] = r.unscorable;
        lengths_t[p * G + g] = static_cast<double>(r.completion.ids.size());
        seqs.push_back({run.train.ids[static_cast<size_t>(r.prompt)], r.completion.ids});
        // The sampler's log-probs of the untempered policy: what the IS correction compares with the
        // trainer's (numerical mismatch between the two paths, not the temperature).
        sampler_lp.push_back(r.completion.logprobs);
        flat.push_back(&r);
      }
    }
    auto adv = algo::compute_advantages(rewards_t, G, o.advantage, unscorable_t, lengths_t);
    auto advantages = adv.advantages.to(torch::kFloat).contiguous();
    const float* adv_data = advantages.data_ptr<float>();

    // 5. Policy update: mu epochs x mini_batches optimizer steps.
    auto t_train = Clock::now();
    // ZEROTH_PROFILE_TRAIN=FILE: a Chrome trace of every op of step 2's update (step 1 pays the
    // one-off first touches of memory), for docs/benchmarks.md's profiles.
    std::unique_ptr<torch::autograd::profiler::RecordProfile> profile;
    if (const char* trace = std::getenv("ZEROTH_PROFILE_TRAIN"); trace && step == start_step + 2) {
      profile = std::make_unique<torch::autograd::profiler::RecordProfile>(std::string(trace));
    }
    policy.train();
    const bool need_old = o.mu > 1 || o.mini_batches > 1;
    std::vector<std::vector<float>> old_lp, ref_lp;
    if (need_old) old_lp = score_sequences(policy, seqs, o);
    if (o.loss.needs_reference() && !o.loss.kl_in_reward) ref_lp = score_sequences(*run.reference, seqs, o);
    const bool want_entropy = o.loss.entropy_coef != 0.0;
    algo::LossStats stats;
    double grad_norm_sum = 0, entropy_sum = 0, entropy_tokens = 0, trained_tokens = 0;
    double time_forward = 0, time_backward = 0, time_optimizer = 0;
    int64_t optimizer_steps = 0, skipped = 0;
    double lr = 0;
    const int64_t M = static_cast<int64_t>(seqs.size());
    for (int64_t epoch = 0; epoch < o.mu; ++epoch) {
      std::vector<int64_t> perm(static_cast<size_t>(M));
      std::iota(perm.begin(), perm.end(), 0);
      if (o.mini_batches > 1 || o.mu > 1) {
        SplitMix64 rng(derive_seed(run.seed, {0x3B47, static_cast<uint64_t>(step), static_cast<uint64_t>(epoch)}));
        for (int64_t i = M - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(static_cast<uint64_t>(i + 1))]);
      }
      for (int64_t mb = 0; mb < o.mini_batches; ++mb) {
        const int64_t lo = M * mb / o.mini_batches, hi = M * (mb + 1) / o.mini_batches;
        std::vector<int64_t> rows(perm.begin() + lo, perm.begin() + hi);
        // Global normalizers of this mini-batch (the loss is invariant to the micro-batch split).
        algo::LossNormalizer norm;
        for (int64_t r : rows) {
          const auto len = static_cast<double>(seqs[static_cast<size_t>(r)].completion.size());
          norm.num_tokens += len;
          norm.num_sequences += len > 0;
        }
        norm.constant_length = static_cast<double>(o.loss.loss_scale_factor > 0 ? o.loss.loss_scale_factor : o.sampling.max_new_tokens);
        if (dist.world() > 1) {  // [dist] global normalizers
          std::vector<double> v{norm.num_tokens, norm.num_sequences};
          dist.all_reduce_sum(v);
          norm.num_tokens = v[0];
          norm.num_sequences = v[1];
        }
        if (norm.num_tokens == 0) continue;
        std::stable_sort(rows.begin(), rows.end(), [&](int64_t a, int64_t b) {
          return seqs[static_cast<size_t>(a)].prompt.size() + seqs[static_cast<size_t>(a)].completion.size() <
                 seqs[static_cast<size_t>(b)].prompt.size() + seqs[static_cast<size_t>(b)].completion.size();
        });
        optimizer.zero_grad();
        for (const auto& micro : split_by_tokens(seqs, rows, o.micro_batch_tokens)) {
          auto batch = pad_batch(seqs, micro, policy.device());
          torch::Tensor entropy;
          auto t_forward = Clock::now();
          auto lp_new = completion_logprobs(policy, batch, o.logprob_chunk, &entropy);
          algo::PolicyLossInputs in;
          in.logprobs_new = lp_new;
          const int64_t C = batch.completion_width;
          if (need_old) in.logprobs_old = pad_rows(old_lp, micro, C, policy.device());
          if (!ref_lp.empty()) in.logprobs_ref = pad_rows(ref_lp, micro, C, policy.device());
          in.logprobs_sampler = pad_rows(sampler_lp, micro, C, policy.device());
          if (want_entropy) in.entropy = entropy;
          std::vector<float> a;
          for (int64_t r : micro) a.push_back(adv_data[r]);
          in.advantages = torch::tensor(a).to(policy.device());
          in.mask = batch.completion_mask;
          auto out = algo::policy_loss(in, o.loss, norm);
          auto t_backward = Clock::now();
          time_forward += std::chrono::duration<double>(t_backward - t_forward).count();
          out.loss.backward();
          time_backward += since(t_backward);
          stats.add(out.stats);
          entropy_sum += (entropy.detach() * batch.completion_mask).sum().item<double>();
          entropy_tokens += batch.completion_mask.sum().item<double>();
          trained_tokens += static_cast<double>(batch.ids.numel());
        }
        dist.all_reduce_gradients(policy);  // [dist] sum over ranks
        lr = learning_rate_at(o.optimizer, optimizer.num_steps() + skipped_total, total_updates);
        auto t_optimizer = Clock::now();
        auto result = optimizer.step(lr);
        time_optimizer += since(t_optimizer);
        ++optimizer_steps;
        guard.record(result.applied(), step, "gradients");
        if (!result.applied()) {
          ++skipped;
          ++skipped_total;
        } else {
          grad_norm_sum += result.grad_norm;
        }
      }
    }
    profile.reset();  // writes the trace
    const double time_train = since(t_train);
    if (skipped > 0) spdlog::warn("step {}: {} of {} updates skipped (non-finite gradients)", step, skipped, optimizer_steps);

    // 6. Metrics.
    std::vector<double> totals, lengths;
    std::map<std::string, std::vector<double>> per_component;
    double correct = 0, formatted = 0, format_seen = 0, truncated = 0;
    for (const Rollout* r : flat) {
      totals.push_back(r->reward.total);
      lengths.push_back(static_cast<double>(r->completion.ids.size()));
      for (const auto& [name, v] : r->reward.components) {
        if (v) per_component[name].push_back(*v);
      }
      correct += is_correct(r->reward);
      if (auto f = component(r->reward, "format")) {
        format_seen += 1;
        formatted += *f >= 1.0 - 1e-9;
      }
      truncated += r->completion.finish_reason == "length";
    }
    const double n = std::max<double>(1.0, static_cast<double>(flat.size()));
    const double time_step = since(step_start);
    Json f;
    f["reward_mean"] = mean_of(totals);
    f["reward_std"] = std_of(totals);
    for (const auto& [name, values] : per_component) f["reward/" + name + "_mean"] = mean_of(values);
    f["accuracy"] = correct / n;
    if (format_seen > 0) f["format_rate"] = formatted / format_seen;
    f["advantage_mean"] = advantages.mean().item<double>();
    f["advantage_std"] = advantages.numel() > 1 ? advantages.std().item<double>() : 0.0;
    f["frac_zero_std"] = groups_seen ? static_cast<double>(zero_std_seen) / static_cast<double>(groups_seen) : 0.0;
    f["groups"] = N;
    if (!ref_lp.empty()) f["kl"] = stats.kl_mean();
    f["clip_frac_low"] = stats.clip_frac_low();
    f["clip_frac_high"] = stats.clip_frac_high();
    f["ratio_mean"] = stats.ratio_mean();
    f["entropy"] = entropy_tokens > 0 ? entropy_sum / entropy_tokens : 0.0;
    f["policy_loss"] = optimizer_steps ? stats.policy_loss / static_cast<double>(optimizer_steps) : 0.0;
    f["grad_norm"] = optimizer_steps - skipped > 0 ? grad_norm_sum / static_cast<double>(optimizer_steps - skipped) : 0.0;
    f["lr"] = lr;
    f["skipped_updates"] = skipped;
    f["completion_len_mean"] = mean_of(lengths);
    f["completion_len_max"] = lengths.empty() ? 0.0 : *std::max_element(lengths.begin(), lengths.end());
    f["truncation_rate"] = truncated / n;
    f["sample_tokens_per_s"] = time_sample > 0 ? static_cast<double>(sampled_tokens) / time_sample : 0.0;
    f["train_tokens_per_s"] = time_train > 0 ? trained_tokens / time_train : 0.0;
    f["time_sample"] = time_sample;
    f["time_reward"] = time_reward;
    f["time_train"] = time_train;
    f["time_train_forward"] = time_forward;    // of which: log-probs of the policy (with graph)
    f["time_train_backward"] = time_backward;  //           their backward
    f["time_optimizer"] = time_optimizer;      //           AdamW steps
    f["time_step"] = time_step;
    if (dist.world() > 1) {  // [dist] global figures from per-rank sums (clip/ratio/advantage stats: rank 0's)
      double sq = 0;
      for (double x : totals) sq += x * x;
      std::vector<double> v{std::accumulate(totals.begin(), totals.end(), 0.0), static_cast<double>(totals.size()), correct,
                            std::accumulate(lengths.begin(), lengths.end(), 0.0), truncated, static_cast<double>(N),
                            static_cast<double>(groups_seen), static_cast<double>(zero_std_seen),
                            static_cast<double>(sampled_tokens), trained_tokens, entropy_sum, entropy_tokens,
                            stats.policy_loss, formatted, format_seen, sq};
      dist.all_reduce_sum(v);
      const double count = std::max(1.0, v[1]), mean = v[0] / count;
      f["reward_mean"] = mean;
      f["reward_std"] = v[1] > 1 ? std::sqrt(std::max(0.0, v[15] / count - mean * mean)) : 0.0;
      f["accuracy"] = v[2] / count;
      f["completion_len_mean"] = v[3] / count;
      f["truncation_rate"] = v[4] / count;
      f["groups"] = v[5];
      f["frac_zero_std"] = v[6] > 0 ? v[7] / v[6] : 0.0;
      f["entropy"] = v[11] > 0 ? v[10] / v[11] : 0.0;
      f["policy_loss"] = optimizer_steps ? v[12] / static_cast<double>(optimizer_steps) : 0.0;
      if (v[14] > 0) f["format_rate"] = v[13] / v[14];
      f["sample_tokens_per_s"] = time_sample > 0 ? v[8] / time_sample : 0.0;
      f["train_tokens_per_s"] = time_train > 0 ? v[9] / time_train : 0.0;
      f["world_size"] = dist.world();
    }
    metrics.write(step, f);
    if (tensorboard) tensorboard->add_scalars(step, f);
    spdlog::info("step {}/{}: reward {:.3f} accuracy {:.3f} len {:.1f} clip {:.3f}/{:.3f} grad {:.3f} ({:.1f}s: sample {:.1f}, train {:.1f})",
                 step, o.steps, f["reward_mean"].get<double>(), f["accuracy"].get<double>(),
                 f["completion_len_mean"].get<double>(), stats.clip_frac_low(), stats.clip_frac_high(),
                 f["grad_norm"].get<double>(), time_step, time_sample, time_train);

    if (o.samples_every > 0 && (step % o.samples_every == 0 || step == 1)) {
      std::vector<Json> written;
      for (int64_t p = 0; p < std::min<int64_t>(N, o.samples_prompts); ++p) {
        for (int64_t g = 0; g < G; ++g) {
          const Rollout& r = groups[static_cast<size_t>(p)][static_cast<size_t>(g)];
          written.push_back({{"step", step},
                              {"prompt", run.train.texts[static_cast<size_t>(r.prompt)]},
                              {"completion", r.completion.text},
                              {"rewards", rewards::RuleSet::components_json(r.reward)},
                              {"reward", r.reward.total},
                              {"advantage", adv_data[p * G + g]},
                              {"answer", run.train.examples[static_cast<size_t>(r.prompt)].value("answer", Json())},
                              {"finish_reason", r.completion.finish_reason}});
          samples.write_line(written.back());
        }
      }
      if (tensorboard) tensorboard->add_text("samples", step, format_samples_markdown(written));
    }
    if (o.eval_every > 0 && step % o.eval_every == 0 && step != o.steps) run_eval(step);
    if (o.write_checkpoints && schedule.due(step, o.steps, dist)) {
      if (!all_finite(policy)) throw Error(cat("GRPO step ", step, ": the weights hold NaN or Inf; no checkpoint written"));
      if (dist.is_main()) {  // [dist] rank 0 writes; the others take part in the optimizer-state gather
        checkpoints.save(step, optimizer, Json{{"data", order.state()}, {"skipped_updates", skipped_total}}, run.save_model);
      } else {
        optimizer.state_tensors();
      }
      dist.barrier(std::chrono::hours(24));  // [dist] rank 0 writes the checkpoint; a dead rank 0 still fails it at once
      schedule.saved();
    }
    if (tensorboard) tensorboard->flush();
    progress.advance();
    if (run.on_step_end) run.on_step_end(step);
  }
  run_eval(o.steps);
  return last_eval;
}

}  // namespace zeroth::train
