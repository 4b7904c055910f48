// KvCache: per-layer [S, K, T, D] key/value buffers and per-slot fill lengths.
#include "zeroth/model/kv_cache.h"

#include <torch/torch.h>

#include "zeroth/core/error.h"

namespace zeroth::model {

KvCache::KvCache(const ModelConfig& config, int64_t slots, int64_t max_len, c10::ScalarType dtype, c10::Device device)
    : max_len_(max_len), lengths_(static_cast<size_t>(std::max<int64_t>(slots, 0)), 0) {
  if (slots < 1) throw Error(cat("kv cache: need at least one slot, got ", slots));
  if (max_len < 1) throw Error(cat("kv cache: max_len must be positive, got ", max_len));
  auto options = torch::TensorOptions().dtype(dtype).device(device);
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    // Zero-filled so that a never-written entry is finite even if a masked score reads it.
    keys_.push_back(torch::zeros({slots, config.num_key_value_heads, max_len, config.head_dim}, options));
    values_.push_back(torch::zeros({slots, config.num_key_value_heads, max_len, config.head_dim}, options));
  }
}

void KvCache::check_slot(int64_t slot) const {
  if (slot < 0 || slot >= num_slots()) throw Error(cat("kv cache: slot ", slot, " out of range [0, ", num_slots(), ")"));
}

int64_t KvCache::length(int64_t slot) const {
  check_slot(slot);
  return lengths_[slot];
}

void KvCache::reset(int64_t slot) {
  check_slot(slot);
  lengths_[slot] = 0;
}

void KvCache::truncate(int64_t slot, int64_t len) {
  check_slot(slot);
  if (len < 0 || len > lengths_[slot]) {
    throw Error(cat("kv cache: cannot truncate slot ", slot, " of length ", lengths_[slot], " to ", len));
  }
  lengths_[slot] = len;
}

void KvCache::set_length(int64_t slot, int64_t len) {
  check_slot(slot);
  if (len < 0 || len > max_len_) {
    throw Error(cat("kv cache: slot ", slot, " would hold ", len, " tokens; the cache holds at most ", max_len_,
                    " (raise max_len)"));
  }
  lengths_[slot] = len;
}

void KvCache::copy_prefix(int64_t source, const std::vector<int64_t>& targets) {
  check_slot(source);
  const int64_t len = lengths_[source];
  torch::NoGradGuard no_grad;
  for (int64_t t : targets) {
    check_slot(t);
    if (t == source) continue;
    if (len > 0) {
      for (size_t l = 0; l < keys_.size(); ++l) {
        keys_[l][t].narrow(1, 0, len).copy_(keys_[l][source].narrow(1, 0, len));
        values_[l][t].narrow(1, 0, len).copy_(values_[l][source].narrow(1, 0, len));
      }
    }
    lengths_[t] = len;
  }
}

}  // namespace zeroth::model
