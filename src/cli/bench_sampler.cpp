// `zeroth bench sampler`: rollout throughput of the sampler on a random-init model (default: the
// Qwen2.5-0.5B shape) or a model directory. Prints one JSON object: prefill tokens/s, decode
// tokens/s at batch 1 and at G, time to first token, slot occupancy, peak memory, and on CPU the
// memory-bandwidth bound of batch-1 decode (weight bytes per token / measured read bandwidth).
#include <sys/resource.h>

#include <fstream>
#include <iostream>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "cli/bench_common.h"
#include "cli/commands.h"
#include "zeroth/core/device.h"
#include "zeroth/core/json.h"
#include "zeroth/core/random.h"
#include "zeroth/model/checkpoint.h"
#include "zeroth/model/config.h"
#include "zeroth/model/transformer.h"
#include "zeroth/rollout/sampler.h"

namespace zeroth::cli {
namespace {

int64_t minor_page_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

struct BenchSamplerArgs {
  std::string config, model, dtype = "bf16", device = "cpu";
  int64_t prompt_len = 256, new_tokens = 32, group = 16, prompts = 1, threads = 0;
  uint64_t seed = 0;
};

Json run_once(model::TransformerImpl& m, const BenchSamplerArgs& a, int64_t group, int64_t num_prompts) {
  SplitMix64 rng(a.seed);
  std::vector<std::vector<int64_t>> prompts(num_prompts);
  for (auto& p : prompts) {
    for (int64_t t = 0; t < a.prompt_len; ++t) p.push_back(static_cast<int64_t>(rng.below(m.config().vocab_size)));
  }
  rollout::SamplingOptions o;
  o.num_generations = group;
  o.max_new_tokens = a.new_tokens;
  o.temperature = 1.0;
  o.eos_token_ids = {};
  o.seed = a.seed;
  // No early EOS: the random model's EOS probability is ~1/V per token; measure full-length decoding.
  rollout::Sampler sampler(m, nullptr, {.num_slots = group * num_prompts});
  sampler.sample_groups(prompts, o);  // warm-up: first touches of the cache and of the heap
  const int64_t faults_before = minor_page_faults();
  auto r = sampler.sample_groups(prompts, o);
  const int64_t faults = minor_page_faults() - faults_before;
  const auto& s = r.stats;
  return Json{{"batch", group * num_prompts},
              {"prefill_tokens_per_s", s.prefill_seconds > 0 ? s.prefill_tokens / s.prefill_seconds : 0.0},
              {"decode_tokens_per_s", s.decode_seconds > 0 ? s.decode_tokens / s.decode_seconds : 0.0},
              {"decode_ms_per_step", s.decode_steps ? 1000.0 * s.decode_seconds / s.decode_steps : 0.0},
              {"sample_share_of_decode", s.decode_seconds > 0 ? s.sample_seconds / s.decode_seconds : 0.0},
              {"time_to_first_token_s", s.time_to_first_token},
              {"slot_occupancy", s.slot_occupancy},
              // Fresh memory taken from the OS in the timed run (prefill included), per decode step:
              // ~0 when buffers are reused (malloc keeps freed blocks, the KV cache is preallocated).
              {"minor_page_faults_per_decode_step",
               s.decode_steps ? static_cast<double>(faults) / static_cast<double>(s.decode_steps) : 0.0}};
}

void run_bench_sampler(const BenchSamplerArgs& a) {
  if (a.threads > 0) torch::set_num_threads(static_cast<int>(a.threads));
  auto device = parse_device(a.device);
  auto dtype = parse_dtype(a.dtype);
  auto [m, source] = load_bench_model(a.config, a.model, dtype, device, a.seed);
  m->eval();
  spdlog::info("bench sampler: {} ({} parameters), {} on {}, prompt {} + {} new tokens", source,
               m->config().num_parameters(), a.dtype, a.device, a.prompt_len, a.new_tokens);
  Json out{{"benchmark", "sampler"}, {"model", source}, {"dtype", a.dtype}, {"device", a.device},
           {"threads", torch::get_num_threads()}, {"prompt_len", a.prompt_len}, {"new_tokens", a.new_tokens}};
  out["batch_1"] = run_once(*m, a, 1, 1);
  if (device.is_cpu()) {
    // The batch-1 roof: every weight is read once per token (the LM head in full, one embedding
    // row), at the read bandwidth this machine reaches on the same threads.
    double bytes = 0;
    for (const auto& p : m->parameters()) bytes += static_cast<double>(p.numel() * p.element_size());
    if (!m->config().tie_word_embeddings) {
      const auto& e = m->model->embed_tokens->weight;
      bytes -= static_cast<double>(e.numel() * e.element_size());
    }
    const double bandwidth = measure_read_bandwidth();
    const double bound_ms = 1000.0 * bytes / bandwidth;
    out["memory_bound"] = Json{{"weight_bytes_per_token", bytes},
                               {"read_bandwidth_gb_per_s", bandwidth / 1e9},
                               {"bound_ms_per_token", bound_ms},
                               {"batch_1_over_bound", out["batch_1"]["decode_ms_per_step"].get<double>() / bound_ms}};
  }
  out["group"] = run_once(*m, a, a.group, a.prompts);
  out["peak_rss_bytes"] = peak_rss_bytes();
  std::cout << out.dump() << std::endl;
}

}  // namespace

void add_bench_sampler_command(CLI::App& bench) {
  auto a = std::make_shared<BenchSamplerArgs>();
  CLI::App* sub = bench.add_subcommand("sampler", "Rollout prefill/decode tokens per second (batch 1 and G)");
  sub->add_option("--config", a->config, "config.json of a random-init model (default: Qwen2.5-0.5B shape)");
  sub->add_option("--model", a->model, "A model directory instead of a random model");
  sub->add_option("--dtype", a->dtype, "fp32 | bf16")->capture_default_str();
  sub->add_option("--device", a->device, "cpu | cuda[:N]")->capture_default_str();
  sub->add_option("--prompt-len", a->prompt_len, "Prompt tokens")->capture_default_str();
  sub->add_option("--new-tokens", a->new_tokens, "Tokens generated per completion")->capture_default_str();
  sub->add_option("--g", a->group, "Completions per prompt (G)")->capture_default_str();
  sub->add_option("--prompts", a->prompts, "Prompts in the G run")->capture_default_str();
  sub->add_option("--threads", a->threads, "Intra-op threads (0: LibTorch's default)");
  sub->add_option("--seed", a->seed)->capture_default_str();
  on_parsed(sub, [a] { run_bench_sampler(*a); });
}

}  // namespace zeroth::cli
