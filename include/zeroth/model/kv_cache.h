// KvCache: preallocated keys and values of every layer for a fixed number of sequence slots, for
// the sampler's prefill + decode. Shapes: S slots, K kv heads, T max length, D head dim.
//
//   KvCache cache(cfg, /*slots=*/16, /*max_len=*/1280, torch::kBFloat16, device);
//   model->hidden_states_cached(prompt_ids, cache, {0}, {P});   // prefill slot 0
//   cache.copy_prefix(0, {1, 2, 3});                            // share the prompt with slots 1..3
//   auto logits = model->forward_cached(next_ids, cache, {0, 1, 2, 3});  // [4, V]
//
// Nothing is allocated after construction: appends write into the buffers in place.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "zeroth/model/config.h"

namespace zeroth::model {

class KvCache {
 public:
  KvCache(const ModelConfig& config, int64_t slots, int64_t max_len, c10::ScalarType dtype, c10::Device device);

  int64_t num_slots() const { return static_cast<int64_t>(lengths_.size()); }
  int64_t max_len() const { return max_len_; }
  int64_t num_layers() const { return static_cast<int64_t>(keys_.size()); }
  // Tokens held by `slot`.
  int64_t length(int64_t slot) const;
  // Empties a slot (the buffer is kept; stale entries are never read).
  void reset(int64_t slot);
  // Keeps the first `len` tokens of `slot` (len <= length(slot)).
  void truncate(int64_t slot, int64_t len);
  // Copies the filled prefix (length(source) tokens) of `source` into each target slot, in every
  // layer; the targets' lengths become the source's.
  void copy_prefix(int64_t source, const std::vector<int64_t>& targets);

  // [S, K, T, D] buffers of layer `layer` (for the model's attention).
  at::Tensor& keys(int64_t layer) { return keys_[layer]; }
  at::Tensor& values(int64_t layer) { return values_[layer]; }
  // Sets a slot's length after the model wrote entries (model use).
  void set_length(int64_t slot, int64_t len);

 private:
  void check_slot(int64_t slot) const;
  int64_t max_len_;
  std::vector<at::Tensor> keys_, values_;
  std::vector<int64_t> lengths_;
};

}  // namespace zeroth::model
