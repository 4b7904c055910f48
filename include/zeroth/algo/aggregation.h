// Loss aggregation: how per-token losses l[B, T] become one scalar, named exactly as verl's
// `loss_agg_mode` (TRL's `loss_type` names are accepted as aliases). Pure tensor math, no I/O.
// Spec: docs/grpo_formulas.md "Loss aggregation"; docs/algo.md.
//
// Split invariance: every mode divides by normalizers of the WHOLE optimizer mini-batch (all
// micro-batches on all ranks), which the caller computes once (make_loss_normalizer, then an
// all-reduce sum across ranks) and passes to every micro-batch. The loss of a micro-batch is then
// its additive share: summing the micro-batch losses (and their gradients) over micro-batches and
// ranks gives exactly the full mini-batch loss. Gradient accumulation must therefore NOT divide by
// the number of micro-batches, and data parallelism must SUM gradients across ranks (or multiply
// the averaged gradients by the world size).
// Shapes: B sequences in the micro-batch, T padded completion length.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

#include "zeroth/core/json.h"

namespace zeroth::algo {

enum class LossAggregation {
  TokenMean,            // "token-mean":  sum_{i,t} l*m / N_tok                (TRL "dapo", "bnpo")
  SeqMeanTokenMean,     // "seq-mean-token-mean": sum_i (sum_t l*m / |o_i|) / N_seq   (TRL "grpo")
  SeqMeanTokenSum,      // "seq-mean-token-sum": sum_{i,t} l*m / N_seq
  SeqMeanTokenSumNorm,  // "seq-mean-token-sum-norm": sum_{i,t} l*m / (N_seq * L)   (TRL "dr_grpo")
};

const char* loss_aggregation_name(LossAggregation mode);  // the verl name
// verl names, and TRL aliases "dapo", "bnpo" (token-mean), "grpo" (seq-mean-token-mean), "dr_grpo"
// (seq-mean-token-sum-norm). Error naming `where` with a did-you-mean otherwise.
LossAggregation parse_loss_aggregation(const std::string& name, const std::string& where);

// Normalizers of one optimizer mini-batch (all its micro-batches, all ranks).
struct LossNormalizer {
  double num_tokens = 0;       // N_tok: completion tokens (sum of the mask)
  double num_sequences = 0;    // N_seq: sequences with at least one completion token
  double constant_length = 0;  // L: constant per-sequence length for seq-mean-token-sum-norm (Dr. GRPO)
};

// Counts tokens and sequences of `mask` [B, T] (the whole local mini-batch; sum the fields across
// ranks for data parallelism). constant_length is copied through.
LossNormalizer make_loss_normalizer(const torch::Tensor& mask, double constant_length = 0);

// This micro-batch's share of the mini-batch loss. loss_mat, mask: [B, T] (mask 0/1, any dtype).
// Error when a needed normalizer is not positive (e.g. L = 0 for seq-mean-token-sum-norm).
torch::Tensor aggregate_loss(const torch::Tensor& loss_mat, const torch::Tensor& mask, LossAggregation mode,
                             const LossNormalizer& norm);

}  // namespace zeroth::algo
