// The GRPO training loop. One step:
//   prompts -> G rollouts each (sampler, with behaviour log-probs) -> rewards (rule set) ->
//   group-relative advantages (optionally DAPO dynamic sampling: zero-variance groups dropped and
//   refilled) -> mu epochs over mini-batches of the rollouts, each mini-batch one optimizer step,
//   accumulated over micro-batches sized to a token budget (split-invariant loss normalizers) ->
//   metrics.jsonl, samples.jsonl, periodic eval and checkpoints (model in HF layout + optimizer,
//   step and data position, so --resume continues exactly).
// Losses and advantages: algo/. Optimizer and training state: optimizer.h, train_state.h.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "zeroth/algo/advantages.h"
#include "zeroth/algo/policy_loss.h"
#include "zeroth/core/json.h"
#include "zeroth/model/transformer.h"
#include "zeroth/rewards/rule_set.h"
#include "zeroth/rollout/sampling_options.h"
#include "zeroth/text/tokenizer.h"
#include "zeroth/train/distributed.h"
#include "zeroth/train/evaluate.h"
#include "zeroth/train/optimizer.h"

namespace zeroth::train {

struct GrpoOptions {
  int64_t steps = 100;
  int64_t prompts_per_step = 8;           // groups per step (each of G = sampling.num_generations)
  rollout::SamplingOptions sampling;      // "sampling": temperature 1, top_p 1, G 8 by default
  int64_t num_slots = 0;                  // sampler slots (0: prompts_per_step x G)
  int64_t mu = 1;                         // inner epochs over the same rollouts
  int64_t mini_batches = 1;               // optimizer steps per epoch
  int64_t micro_batch_tokens = 16384;     // padded tokens per forward/backward
  int64_t logprob_chunk = 256;            // positions per chunk of the LM head
  algo::AdvantageOptions advantage;
  algo::LossOptions loss;
  OptimizerOptions optimizer;
  bool dynamic_sampling = false;          // DAPO: drop zero-variance groups and sample more prompts
  int64_t max_resample_rounds = 3;        // extra sampling rounds per step with dynamic sampling
  int64_t save_every = 0;                 // checkpoint every N steps (0: off)
  double save_minutes = 30;               // and N minutes after the last one (0: off); always at the end
  bool write_checkpoints = true;          // false: none at all (benchmarks; not a recipe key)
  int64_t eval_every = 0;                 // evaluate every N steps (0: at the end only)
  int64_t samples_every = 10;             // write samples.jsonl every N steps
  int64_t samples_prompts = 2;            // prompts (with all G completions) per samples write
  bool gradient_checkpointing = false;

  static GrpoOptions from_json(const JsonReader& reader);
};

struct GrpoRun {
  model::TransformerImpl* policy = nullptr;
  model::TransformerImpl* reference = nullptr;   // required when loss.beta > 0
  const text::Tokenizer* tokenizer = nullptr;
  const rewards::RuleSet* rules = nullptr;
  PromptData train, eval;                        // eval may be empty: no evaluation
  EvalOptions eval_options;
  std::string dir;                               // metrics.jsonl, samples.jsonl, checkpoints/
  uint64_t seed = 1;
  bool resume = false;
  // Writes the policy in Hugging Face layout into a directory (the caller knows the tokenizer files).
  std::function<void(const std::string& dir)> save_model;
  // Called after each step's metrics and checkpoint (tests use it to simulate a crash).
  std::function<void(int64_t step)> on_step_end;
  // Data parallel (distributed.h; null: single process). Each rank trains on its slice of every
  // step's data, gradients and loss normalizers are summed, optimizer state is sharded (ZeRO-1),
  // and only rank 0 writes metrics, samples, checkpoints and models. Every rank must call this.
  Distributed* dist = nullptr;
};

// Trains; returns the final evaluation (null when there is no eval set).
Json train_grpo(const GrpoRun& run, const GrpoOptions& options);

}  // namespace zeroth::train
