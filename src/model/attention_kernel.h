// One decode step of grouped-query attention on CPU in bf16, for B rows that each add one token to
// their own KV-cache slot: rotary embedding of q and k, the cache writes of k and v, and softmax
// attention over the slot's keys, fused per (row, kv head) instead of ~15 ATen ops per layer that
// copied the cache window for the batched products (docs/benchmarks.md).
//
// Arithmetic: the rotary terms round to bf16 as HF's bf16 ops do (q cos, rotate_half(q) sin, their
// sum), so cached keys equal the full-sequence path's; scores, softmax and the weighted sum of
// values stay in fp32 and the output rounds to bf16 once (the ATen path rounds scores and
// probabilities to bf16 on the way).
#pragma once

#include <cstdint>

namespace zeroth::model::kernels {

struct DecodeAttention {
  int64_t B = 0, H = 0, Kh = 0, D = 0;  // rows, query heads, kv heads, head dim (even)
  const uint16_t* q = nullptr;          // [B, H * D], row stride ldq; before rotary
  const uint16_t* k = nullptr;          // [B, Kh * D], row stride ldk; before rotary
  const uint16_t* v = nullptr;          // [B, Kh * D], row stride ldv
  int64_t ldq = 0, ldk = 0, ldv = 0;
  const uint16_t* cos = nullptr;        // [B, D]
  const uint16_t* sin = nullptr;        // [B, D]
  uint16_t* cache_k = nullptr;          // [slots, Kh, max_len, D]
  uint16_t* cache_v = nullptr;
  int64_t max_len = 0;
  const int64_t* slots = nullptr;       // [B], distinct
  const int64_t* positions = nullptr;   // [B]: the new token's index in its slot; keys 0..position
  uint16_t* out = nullptr;              // [B, H * D]
  float scale = 0.0f;                   // 1 / sqrt(D)
};

// Work is split over (row, kv head) pairs on LibTorch's intra-op threads.
void decode_attention_bf16(const DecodeAttention& a);

}  // namespace zeroth::model::kernels
