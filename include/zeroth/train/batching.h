// Prompt + completion sequences as padded tensors, their completion log-probs, and micro-batches
// sized to a token budget. Layout of a padded batch (B rows):
//
//   [ pad .. pad  prompt tokens | completion tokens  pad .. pad ]
//    <------ P (left-padded) ---> <------ C (right-padded) ----->
//
// so every completion starts at column P, and the hidden states at columns P-1 .. P+C-2 predict the
// completion tokens. The model derives positions from the attention mask, so padding changes nothing.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "zeroth/model/transformer.h"

namespace zeroth::train {

struct Sequence {
  std::vector<int64_t> prompt;       // non-empty
  std::vector<int64_t> completion;   // the tokens whose log-probs are wanted (may be empty)
};

struct PaddedBatch {
  torch::Tensor ids;               // [B, P + C] int64
  torch::Tensor attention_mask;    // [B, P + C] int64, 1 on real tokens
  torch::Tensor completion_mask;   // [B, C] float, 1 on completion tokens
  int64_t prompt_width = 0, completion_width = 0;
};

// Pads `rows` of `sequences` (indices into it) onto `device`.
PaddedBatch pad_batch(const std::vector<Sequence>& sequences, const std::vector<int64_t>& rows, torch::Device device);

// [B, C] fp32 log-probs of the completion tokens (0 on padding) under `model`, computed from the
// hidden states in chunks of `chunk` positions (no [B, T, V] logits); differentiable unless under
// NoGradGuard. With `entropy`, also the per-position entropy [B, C].
torch::Tensor completion_logprobs(model::TransformerImpl& model, const PaddedBatch& batch, int64_t chunk,
                                  torch::Tensor* entropy = nullptr);

// Splits `rows` into consecutive groups whose padded size (rows x longest sequence) stays within
// `token_budget` (a row longer than the budget gets a group of its own). Rows are taken in the
// given order; sort them by length first for tighter packing.
std::vector<std::vector<int64_t>> split_by_tokens(const std::vector<Sequence>& sequences,
                                                  const std::vector<int64_t>& rows, int64_t token_budget);

}  // namespace zeroth::train
