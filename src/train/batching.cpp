// Padded batches, completion log-probs, token-budget micro-batches. See batching.h.
#include "zeroth/train/batching.h"

#include <algorithm>

#include "zeroth/core/error.h"
#include "zeroth/model/logprobs.h"

namespace zeroth::train {

PaddedBatch pad_batch(const std::vector<Sequence>& sequences, const std::vector<int64_t>& rows, torch::Device device) {
  ZEROTH_CHECK(!rows.empty(), "pad_batch: no rows");
  PaddedBatch b;
  for (int64_t r : rows) {
    const Sequence& s = sequences[static_cast<size_t>(r)];
    ZEROTH_CHECK(!s.prompt.empty(), "pad_batch: row ", r, " has an empty prompt");
    b.prompt_width = std::max<int64_t>(b.prompt_width, static_cast<int64_t>(s.prompt.size()));
    b.completion_width = std::max<int64_t>(b.completion_width, static_cast<int64_t>(s.completion.size()));
  }
  const int64_t B = static_cast<int64_t>(rows.size()), P = b.prompt_width, C = b.completion_width;
  auto ids = torch::zeros({B, P + C}, torch::kLong);
  auto mask = torch::zeros({B, P + C}, torch::kLong);
  auto cmask = torch::zeros({B, C}, torch::kFloat);
  auto id = ids.accessor<int64_t, 2>();
  auto m = mask.accessor<int64_t, 2>();
  auto cm = cmask.accessor<float, 2>();
  for (int64_t i = 0; i < B; ++i) {
    const Sequence& s = sequences[static_cast<size_t>(rows[i])];
    const int64_t p = static_cast<int64_t>(s.prompt.size());
    for (int64_t t = 0; t < p; ++t) {
      id[i][P - p + t] = s.prompt[t];
      m[i][P - p + t] = 1;
    }
    for (size_t t = 0; t < s.completion.size(); ++t) {
      id[i][P + static_cast<int64_t>(t)] = s.completion[t];
      m[i][P + static_cast<int64_t>(t)] = 1;
      cm[i][static_cast<int64_t>(t)] = 1.0f;
    }
  }
  b.ids = ids.to(device);
  b.attention_mask = mask.to(device);
  b.completion_mask = cmask.to(device);
  return b;
}

torch::Tensor completion_logprobs(model::TransformerImpl& model, const PaddedBatch& batch, int64_t chunk,
                                  torch::Tensor* entropy) {
  const int64_t P = batch.prompt_width, C = batch.completion_width;
  if (C == 0) {
    auto empty = torch::zeros({batch.ids.size(0), 0}, torch::TensorOptions().dtype(torch::kFloat).device(batch.ids.device()));
    if (entropy) *entropy = empty;
    return empty;
  }
  // Only the columns that predict completion tokens go through the model's last positions; the
  // prompt still has to run for its keys and values, so the whole sequence is one forward.
  auto ids = batch.ids.narrow(1, 0, P + C - 1);
  auto mask = batch.attention_mask.narrow(1, 0, P + C - 1);
  auto hidden = model.hidden_states(ids, mask).narrow(1, P - 1, C);   // [B, C, H]
  auto targets = batch.ids.narrow(1, P, C);
  auto lp = model::token_logprobs(hidden, model.lm_head_weight(), targets, chunk, entropy);
  lp = lp * batch.completion_mask;
  if (entropy) *entropy = *entropy * batch.completion_mask;
  return lp;
}

std::vector<std::vector<int64_t>> split_by_tokens(const std::vector<Sequence>& sequences,
                                                  const std::vector<int64_t>& rows, int64_t token_budget) {
  std::vector<std::vector<int64_t>> out;
  std::vector<int64_t> current;
  int64_t longest_prompt = 0, longest_completion = 0;
  for (int64_t r : rows) {
    const Sequence& s = sequences[static_cast<size_t>(r)];
    const int64_t p = std::max<int64_t>(longest_prompt, static_cast<int64_t>(s.prompt.size()));
    const int64_t c = std::max<int64_t>(longest_completion, static_cast<int64_t>(s.completion.size()));
    if (!current.empty() && static_cast<int64_t>(current.size() + 1) * (p + c) > token_budget) {
      out.push_back(std::move(current));
      current.clear();
      longest_prompt = static_cast<int64_t>(s.prompt.size());
      longest_completion = static_cast<int64_t>(s.completion.size());
    } else {
      longest_prompt = p;
      longest_completion = c;
    }
    current.push_back(r);
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

}  // namespace zeroth::train
