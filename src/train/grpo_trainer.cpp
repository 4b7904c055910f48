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

// ---- Steps 1-3: rollouts and their rewards ----

// What one step's rollouts gave this rank: the kept groups and what was seen on the way.
struct CollectedGroups {
  std::vector<std::vector<Rollout>> groups;  // this rank's groups of G completions
  int64_t groups_seen = 0;                   // sampled groups, kept or not
  int64_t zero_std_seen = 0;                 // of which had one reward value only
  int64_t sampled_tokens = 0;
  double time_sample = 0, time_reward = 0;
};

// [dist] This rank's share when `total` items are split over the ranks.
int64_t rank_share(int64_t total, const Distributed& dist) {
  return total * (dist.rank() + 1) / dist.world() - total * dist.rank() / dist.world();
}

// A completion that no component could judge, or whose "accuracy" component (when the rule set has
// one) could not, takes no part in its group's statistics.
bool is_unscorable(const rewards::RewardResult& reward) {
  bool any = false, has_accuracy = false;
  for (const auto& [name, v] : reward.components) {
    any = any || v.has_value();
    has_accuracy = has_accuracy || name == "accuracy";
  }
  return !any || (has_accuracy && !component(reward, "accuracy"));
}

// A group whose scorable completions (fewer than two, or) all have the same reward: its advantages are
// all zero, so it teaches nothing (DAPO's dynamic sampling replaces it).
bool has_zero_variance(const std::vector<Rollout>& group) {
  std::vector<double> scorable;
  for (const Rollout& r : group) {
    if (!r.unscorable) scorable.push_back(r.reward.total);
  }
  return scorable.size() < 2 ||
         std::all_of(scorable.begin(), scorable.end(), [&](double x) { return x == scorable[0]; });
}

// Steps 1-3: samples G completions for each of this rank's prompts of the step and scores them. With
// dynamic sampling, zero-variance groups are dropped and replaced from further prompts, for at most
// max_resample_rounds more rounds (the last round keeps whatever it gets).
// [dist] Every rank draws all ranks' needs from the same prompt order and keeps its own slice, so a
// group never straddles ranks and the order stays in step.
CollectedGroups collect_groups(const GrpoRun& run, const GrpoOptions& o, PromptOrder& order, Distributed& dist,
                               int64_t step, int64_t slots) {
  model::TransformerImpl& policy = *run.policy;
  const int64_t G = o.sampling.num_generations;
  const int64_t last_round = o.dynamic_sampling ? o.max_resample_rounds : 0;
  const int64_t share = rank_share(o.prompts_per_step, dist);  // == prompts_per_step on one rank
  CollectedGroups c;
  for (int64_t round = 0; round <= last_round; ++round) {
    // Which prompts of the shared order are this rank's in this round.
    const int64_t need = std::max<int64_t>(0, share - static_cast<int64_t>(c.groups.size()));
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

    // 1. Rollouts.
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
    c.time_sample += since(ts);
    c.sampled_tokens += rr.stats.decode_tokens;

    // 2. Rewards.
    auto tr = Clock::now();
    std::vector<rewards::RewardInput> inputs;
    for (const auto& comp : rr.completions) {
      inputs.emplace_back(comp.text, run.train.examples[static_cast<size_t>(picked[comp.prompt_index])]);
    }
    auto results = run.rules->score_batch(inputs);
    c.time_reward += since(tr);

    // 3. Groups; with dynamic sampling, the zero-variance ones are dropped until the last round.
    for (int64_t p = 0; p < need; ++p) {
      std::vector<Rollout> group;
      for (int64_t g = 0; g < G; ++g) {
        const size_t i = static_cast<size_t>(p * G + g);
        Rollout r{picked[static_cast<size_t>(p)], std::move(rr.completions[i]), std::move(results[i]), false};
        r.unscorable = is_unscorable(r.reward);
        group.push_back(std::move(r));
      }
      ++c.groups_seen;
      const bool zero_std = has_zero_variance(group);
      c.zero_std_seen += zero_std;
      if (o.dynamic_sampling && zero_std && round != last_round) continue;
      c.groups.push_back(std::move(group));
      if (static_cast<int64_t>(c.groups.size()) >= share) break;
    }
  }
  return c;
}

// ---- Step 4: the training rows and their advantages ----

// The kept groups as training rows, row p * G + g for completion g of group p.
struct StepRows {
  std::vector<Sequence> seqs;                   // prompt and completion ids
  std::vector<std::vector<float>> sampler_lp;   // the sampler's log-probs (for the IS correction)
  std::vector<const Rollout*> rollouts;
  torch::Tensor rewards, unscorable, lengths;   // [rows] double / bool / double
};

StepRows flatten_groups(const std::vector<std::vector<Rollout>>& groups, const PromptData& train, int64_t G) {
  const int64_t N = static_cast<int64_t>(groups.size());
  StepRows rows;
  rows.rewards = torch::zeros({N * G}, torch::kDouble);
  rows.unscorable = torch::zeros({N * G}, torch::kBool);
  rows.lengths = torch::zeros({N * G}, torch::kDouble);
  for (int64_t p = 0; p < N; ++p) {
    for (int64_t g = 0; g < G; ++g) {
      const Rollout& r = groups[static_cast<size_t>(p)][static_cast<size_t>(g)];
      rows.rewards[p * G + g] = r.reward.total;
      rows.unscorable[p * G + g] = r.unscorable;
      rows.lengths[p * G + g] = static_cast<double>(r.completion.ids.size());
      rows.seqs.push_back({train.ids[static_cast<size_t>(r.prompt)], r.completion.ids});
      // The sampler's log-probs of the untempered policy: what the IS correction compares with the
      // trainer's (numerical mismatch between the two paths, not the temperature).
      rows.sampler_lp.push_back(r.completion.logprobs);
      rows.rollouts.push_back(&r);
    }
  }
  return rows;
}

// ---- Step 5: the policy update ----

// What the update of one step did, for its metrics.
struct UpdateResult {
  algo::LossStats stats;
  bool has_kl = false;  // the reference was scored (loss.beta > 0, KL in the loss)
  double grad_norm_sum = 0, entropy_sum = 0, entropy_tokens = 0, trained_tokens = 0;
  double time_forward = 0, time_backward = 0, time_optimizer = 0, time_train = 0;
  int64_t optimizer_steps = 0, skipped = 0;
  double lr = 0;
};

// The normalizers of one mini-batch, global over the ranks: the loss does not depend on how the
// mini-batch is split into micro-batches and ranks.
algo::LossNormalizer mini_batch_normalizer(const std::vector<Sequence>& seqs, const std::vector<int64_t>& rows,
                                           const GrpoOptions& o, Distributed& dist) {
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
  return norm;
}

// The state of the optimizer across steps that an update reads and advances.
struct UpdateState {
  AdamW& optimizer;
  NonFiniteGuard& guard;
  int64_t total_updates;  // steps x mu x mini_batches: the learning-rate schedule's length
  int64_t& skipped_total; // updates skipped for NaN/Inf so far (the schedule still advances)
};

// Step 5: mu epochs over the rows, each split into mini_batches optimizer steps, each accumulated
// over micro-batches of at most micro_batch_tokens padded tokens (shortest rows first).
UpdateResult update_policy(const GrpoRun& run, const GrpoOptions& o, const StepRows& rows,
                           const torch::Tensor& advantages, UpdateState state, Distributed& dist, int64_t step,
                           bool profile_this_step) {
  model::TransformerImpl& policy = *run.policy;
  const std::vector<Sequence>& seqs = rows.seqs;
  const float* adv_data = advantages.data_ptr<float>();
  UpdateResult u;
  auto t_train = Clock::now();
  // ZEROTH_PROFILE_TRAIN=FILE: a Chrome trace of every op of step 2's update (step 1 pays the
  // one-off first touches of memory), for docs/benchmarks.md's profiles.
  std::unique_ptr<torch::autograd::profiler::RecordProfile> profile;
  if (const char* trace = std::getenv("ZEROTH_PROFILE_TRAIN"); trace && profile_this_step) {
    profile = std::make_unique<torch::autograd::profiler::RecordProfile>(std::string(trace));
  }
  policy.train();
  const bool need_old = o.mu > 1 || o.mini_batches > 1;
  std::vector<std::vector<float>> old_lp, ref_lp;
  if (need_old) old_lp = score_sequences(policy, seqs, o);
  if (o.loss.needs_reference() && !o.loss.kl_in_reward) ref_lp = score_sequences(*run.reference, seqs, o);
  u.has_kl = !ref_lp.empty();
  const bool want_entropy = o.loss.entropy_coef != 0.0;
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
      std::vector<int64_t> batch_rows(perm.begin() + lo, perm.begin() + hi);
      const algo::LossNormalizer norm = mini_batch_normalizer(seqs, batch_rows, o, dist);
      if (norm.num_tokens == 0) continue;
      std::stable_sort(batch_rows.begin(), batch_rows.end(), [&](int64_t a, int64_t b) {
        return seqs[static_cast<size_t>(a)].prompt.size() + seqs[static_cast<size_t>(a)].completion.size() <
               seqs[static_cast<size_t>(b)].prompt.size() + seqs[static_cast<size_t>(b)].completion.size();
      });
      state.optimizer.zero_grad();
      for (const auto& micro : split_by_tokens(seqs, batch_rows, o.micro_batch_tokens)) {
        auto batch = pad_batch(seqs, micro, policy.device());
        torch::Tensor entropy;
        auto t_forward = Clock::now();
        auto lp_new = completion_logprobs(policy, batch, o.logprob_chunk, &entropy);
        algo::PolicyLossInputs in;
        in.logprobs_new = lp_new;
        const int64_t C = batch.completion_width;
        if (need_old) in.logprobs_old = pad_rows(old_lp, micro, C, policy.device());
        if (!ref_lp.empty()) in.logprobs_ref = pad_rows(ref_lp, micro, C, policy.device());
        in.logprobs_sampler = pad_rows(rows.sampler_lp, micro, C, policy.device());
        if (want_entropy) in.entropy = entropy;
        std::vector<float> a;
        for (int64_t r : micro) a.push_back(adv_data[r]);
        in.advantages = torch::tensor(a).to(policy.device());
        in.mask = batch.completion_mask;
        auto out = algo::policy_loss(in, o.loss, norm);
        auto t_backward = Clock::now();
        u.time_forward += std::chrono::duration<double>(t_backward - t_forward).count();
        out.loss.backward();
        u.time_backward += since(t_backward);
        u.stats.add(out.stats);
        u.entropy_sum += (entropy.detach() * batch.completion_mask).sum().item<double>();
        u.entropy_tokens += batch.completion_mask.sum().item<double>();
        u.trained_tokens += static_cast<double>(batch.ids.numel());
      }
      dist.all_reduce_gradients(policy);  // [dist] sum over ranks
      u.lr = learning_rate_at(o.optimizer, state.optimizer.num_steps() + state.skipped_total, state.total_updates);
      auto t_optimizer = Clock::now();
      auto result = state.optimizer.step(u.lr);
      u.time_optimizer += since(t_optimizer);
      ++u.optimizer_steps;
      state.guard.record(result.applied(), step, "gradients");
      if (!result.applied()) {
        ++u.skipped;
        ++state.skipped_total;
      } else {
        u.grad_norm_sum += result.grad_norm;
      }
    }
  }
  profile.reset();  // writes the trace
  u.time_train = since(t_train);
  if (u.skipped > 0) spdlog::warn("step {}: {} of {} updates skipped (non-finite gradients)", step, u.skipped, u.optimizer_steps);
  return u;
}

// ---- Step 6: metrics ----

// One metrics.jsonl line of a step (this rank's figures; see add_global_metrics).
Json step_metrics(const StepRows& rows, const CollectedGroups& c, const UpdateResult& u, const torch::Tensor& advantages,
                  double time_step) {
  std::vector<double> totals, lengths;
  std::map<std::string, std::vector<double>> per_component;
  double correct = 0, formatted = 0, format_seen = 0, truncated = 0;
  for (const Rollout* r : rows.rollouts) {
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
  const double n = std::max<double>(1.0, static_cast<double>(rows.rollouts.size()));
  const int64_t good_steps = u.optimizer_steps - u.skipped;
  Json f;
  f["reward_mean"] = mean_of(totals);
  f["reward_std"] = std_of(totals);
  for (const auto& [name, values] : per_component) f["reward/" + name + "_mean"] = mean_of(values);
  f["accuracy"] = correct / n;
  if (format_seen > 0) f["format_rate"] = formatted / format_seen;
  f["advantage_mean"] = advantages.mean().item<double>();
  f["advantage_std"] = advantages.numel() > 1 ? advantages.std().item<double>() : 0.0;
  f["frac_zero_std"] = c.groups_seen ? static_cast<double>(c.zero_std_seen) / static_cast<double>(c.groups_seen) : 0.0;
  f["groups"] = static_cast<int64_t>(c.groups.size());
  if (u.has_kl) f["kl"] = u.stats.kl_mean();
  f["clip_frac_low"] = u.stats.clip_frac_low();
  f["clip_frac_high"] = u.stats.clip_frac_high();
  f["ratio_mean"] = u.stats.ratio_mean();
  f["entropy"] = u.entropy_tokens > 0 ? u.entropy_sum / u.entropy_tokens : 0.0;
  f["policy_loss"] = u.optimizer_steps ? u.stats.policy_loss / static_cast<double>(u.optimizer_steps) : 0.0;
  f["grad_norm"] = good_steps > 0 ? u.grad_norm_sum / static_cast<double>(good_steps) : 0.0;
  f["lr"] = u.lr;
  f["skipped_updates"] = u.skipped;
  f["completion_len_mean"] = mean_of(lengths);
  f["completion_len_max"] = lengths.empty() ? 0.0 : *std::max_element(lengths.begin(), lengths.end());
  f["truncation_rate"] = truncated / n;
  f["sample_tokens_per_s"] = c.time_sample > 0 ? static_cast<double>(c.sampled_tokens) / c.time_sample : 0.0;
  f["train_tokens_per_s"] = u.time_train > 0 ? u.trained_tokens / u.time_train : 0.0;
  f["time_sample"] = c.time_sample;
  f["time_reward"] = c.time_reward;
  f["time_train"] = u.time_train;
  f["time_train_forward"] = u.time_forward;    // of which: log-probs of the policy (with graph)
  f["time_train_backward"] = u.time_backward;  //           their backward
  f["time_optimizer"] = u.time_optimizer;      //           AdamW steps
  f["time_step"] = time_step;
  return f;
}

// [dist] Replaces the figures of step_metrics that are sums over rollouts by their global values
// (per-rank sums, all-reduced); clip, ratio and advantage figures stay rank 0's.
void add_global_metrics(Json& f, const StepRows& rows, const CollectedGroups& c, const UpdateResult& u,
                        Distributed& dist) {
  double sum = 0, sq = 0, correct = 0, length_sum = 0, truncated = 0, formatted = 0, format_seen = 0;
  for (const Rollout* r : rows.rollouts) {
    sum += r->reward.total;
    sq += r->reward.total * r->reward.total;
    correct += is_correct(r->reward);
    length_sum += static_cast<double>(r->completion.ids.size());
    truncated += r->completion.finish_reason == "length";
    if (auto fmt = component(r->reward, "format")) {
      format_seen += 1;
      formatted += *fmt >= 1.0 - 1e-9;
    }
  }
  std::vector<double> v{sum, static_cast<double>(rows.rollouts.size()), correct, length_sum, truncated,
                        static_cast<double>(c.groups.size()), static_cast<double>(c.groups_seen),
                        static_cast<double>(c.zero_std_seen), static_cast<double>(c.sampled_tokens), u.trained_tokens,
                        u.entropy_sum, u.entropy_tokens, u.stats.policy_loss, formatted, format_seen, sq};
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
  f["policy_loss"] = u.optimizer_steps ? v[12] / static_cast<double>(u.optimizer_steps) : 0.0;
  if (v[14] > 0) f["format_rate"] = v[13] / v[14];
  f["sample_tokens_per_s"] = c.time_sample > 0 ? v[8] / c.time_sample : 0.0;
  f["train_tokens_per_s"] = u.time_train > 0 ? v[9] / u.time_train : 0.0;
  f["world_size"] = dist.world();
}

// samples.jsonl lines (and a TensorBoard text) of the first samples_prompts groups of a step.
void write_samples(const GrpoRun& run, const GrpoOptions& o, const CollectedGroups& c, const torch::Tensor& advantages,
                   int64_t step, MetricsWriter& samples, TensorBoardWriter* tensorboard) {
  const int64_t G = o.sampling.num_generations;
  const float* adv_data = advantages.data_ptr<float>();
  std::vector<Json> written;
  for (int64_t p = 0; p < std::min<int64_t>(static_cast<int64_t>(c.groups.size()), o.samples_prompts); ++p) {
    for (int64_t g = 0; g < G; ++g) {
      const Rollout& r = c.groups[static_cast<size_t>(p)][static_cast<size_t>(g)];
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
  UpdateState update_state{optimizer, guard, o.steps * o.mu * o.mini_batches, skipped_total};
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
    // 1-3. Rollouts, rewards, groups (dynamic sampling replaces the zero-variance ones).
    const CollectedGroups collected = collect_groups(run, o, order, dist, step, slots);
    // 4. Group-relative advantages.
    const StepRows rows = flatten_groups(collected.groups, run.train, G);
    auto adv = algo::compute_advantages(rows.rewards, G, o.advantage, rows.unscorable, rows.lengths);
    const torch::Tensor advantages = adv.advantages.to(torch::kFloat).contiguous();
    // 5. Policy update: mu epochs x mini_batches optimizer steps x micro-batches.
    const UpdateResult update =
        update_policy(run, o, rows, advantages, update_state, dist, step, step == start_step + 2);
    // 6. Metrics, samples, evaluation, checkpoint.
    Json f = step_metrics(rows, collected, update, advantages, since(step_start));
    if (dist.world() > 1) add_global_metrics(f, rows, collected, update, dist);  // [dist]
    metrics.write(step, f);
    if (tensorboard) tensorboard->add_scalars(step, f);
    spdlog::info("step {}/{}: reward {:.3f} accuracy {:.3f} len {:.1f} clip {:.3f}/{:.3f} grad {:.3f} ({:.1f}s: sample {:.1f}, train {:.1f})",
                 step, o.steps, f["reward_mean"].get<double>(), f["accuracy"].get<double>(),
                 f["completion_len_mean"].get<double>(), update.stats.clip_frac_low(), update.stats.clip_frac_high(),
                 f["grad_norm"].get<double>(), f["time_step"].get<double>(), collected.time_sample, update.time_train);
    if (o.samples_every > 0 && (step % o.samples_every == 0 || step == 1)) {
      write_samples(run, o, collected, advantages, step, samples, tensorboard.get());
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
