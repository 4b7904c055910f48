// Supervised fine-tuning: masked cross-entropy on response tokens only (prompt tokens carry no
// loss). Each optimizer step takes batch_size sequences from an epoch-shuffled order, sorts them by
// length and runs them as micro-batches within a token budget (length-bucketed batching), with
// split-invariant loss normalizers. Used by the sft stage and by distill's student training.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "zeroth/algo/aggregation.h"
#include "zeroth/core/json.h"
#include "zeroth/model/transformer.h"
#include "zeroth/rewards/rule_set.h"
#include "zeroth/train/batching.h"
#include "zeroth/train/distributed.h"
#include "zeroth/train/evaluate.h"
#include "zeroth/train/optimizer.h"

namespace zeroth::train {

struct SftOptions {
  int64_t steps = 0;                     // optimizer steps; 0: run `epochs` epochs
  int64_t epochs = 1;
  int64_t batch_size = 16;               // sequences per optimizer step
  int64_t micro_batch_tokens = 16384;    // padded tokens per forward/backward
  int64_t max_length = 4096;             // longer sequences are cut (counted in metrics)
  int64_t logprob_chunk = 256;
  algo::LossAggregation loss_agg_mode = algo::LossAggregation::TokenMean;
  OptimizerOptions optimizer;            // defaults: lr 1e-5, cosine, warmup 3% (from_json overrides)
  int64_t eval_every = 0;                // 0: at the end only
  int64_t save_every = 0;                // checkpoint every N steps (0: off)
  double save_minutes = 30;              // and N minutes after the last one (0: off); always at the end
  int64_t log_every = 10;
  bool gradient_checkpointing = false;

  static SftOptions from_json(const JsonReader& reader);
  // Optimizer steps for `examples` sequences.
  int64_t total_steps(int64_t examples) const;
};

struct SftRun {
  model::TransformerImpl* model = nullptr;
  std::vector<Sequence> train;           // prompt tokens + response tokens (response ends with EOS)
  // Evaluation (optional): prompts, a rule set and options.
  const text::Tokenizer* tokenizer = nullptr;
  const rewards::RuleSet* rules = nullptr;
  PromptData eval;
  EvalOptions eval_options;
  std::string dir;                       // metrics.jsonl, checkpoints/
  uint64_t seed = 1;
  bool resume = false;
  std::function<void(const std::string& dir)> save_model;
  // Data parallel (distributed.h; null: single process). Each rank trains on its slice of every
  // step's data, gradients and loss normalizers are summed, optimizer state is sharded (ZeRO-1),
  // and only rank 0 writes metrics, samples, checkpoints and models. Every rank must call this.
  Distributed* dist = nullptr;
};

// Trains; returns the final evaluation (null without an eval set).
Json train_sft(const SftRun& run, const SftOptions& options);

}  // namespace zeroth::train
