// Evaluation with the sampler and a reward rule set. See evaluate.h.
#include "zeroth/train/evaluate.h"

#include <chrono>
#include <cstdio>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "zeroth/core/error.h"
#include "zeroth/core/progress.h"
#include "zeroth/rollout/sampler.h"
#include "zeroth/train/tensorboard.h"

namespace zeroth::train {

EvalOptions EvalOptions::from_json(const JsonReader& r) {
  EvalOptions o;
  o.k = r.get_or<int64_t>("k", o.k);
  o.max_new_tokens = r.get_or<int64_t>("max_new_tokens", o.max_new_tokens);
  o.temperature = r.get_or<double>("temperature", o.temperature);
  o.top_p = r.get_or<double>("top_p", o.top_p);
  o.num_slots = r.get_or<int64_t>("num_slots", o.num_slots);
  o.seed = static_cast<uint64_t>(r.get_or<int64_t>("seed", 0));
  o.stop = r.get_or<std::vector<std::string>>("stop", {});
  if (o.k < 1) r.fail("k: expected >= 1");
  if (o.max_new_tokens < 1) r.fail("max_new_tokens: expected >= 1");
  if (o.temperature < 0) r.fail("temperature: expected >= 0");
  if (o.temperature == 0 && o.k > 1) r.fail("k > 1 needs sampling: set temperature > 0 (greedy samples are all equal)");
  if (o.num_slots < 1) r.fail("num_slots: expected >= 1");
  return o;
}

std::optional<double> component(const rewards::RewardResult& result, const std::string& name) {
  for (const auto& [n, v] : result.components) {
    if (n == name) return v;
  }
  return std::nullopt;
}

bool is_correct(const rewards::RewardResult& result) {
  auto a = component(result, "accuracy");
  return a && *a >= 1.0 - 1e-9;
}

Json EvalResult::to_json() const {
  Json j{{"dataset", dataset}, {"n", n}, {"k", k}, {"accuracy", accuracy}, {"pass_at_k", pass_at_k}};
  j["format_rate"] = format_rate ? Json(*format_rate) : Json();
  j["mean_length"] = mean_length;
  j["truncation_rate"] = truncation_rate;
  j["reward_mean"] = reward_mean;
  j["seconds"] = seconds;
  return j;
}

Json EvalResult::figures() const {
  Json f{{"eval/accuracy", accuracy}, {"eval/pass_at_k", pass_at_k}, {"eval/mean_length", mean_length},
         {"eval/truncation_rate", truncation_rate}};
  if (format_rate) f["eval/format_rate"] = *format_rate;
  return f;
}

std::string EvalResult::summary() const {
  char buf[256];
  std::snprintf(buf, sizeof buf, "eval on %s (n=%lld, k=%lld): accuracy %.3f, pass@k %.3f, format %s, mean length %.1f",
                dataset.c_str(), static_cast<long long>(n), static_cast<long long>(k), accuracy, pass_at_k,
                format_rate ? std::to_string(*format_rate).substr(0, 5).c_str() : "-", mean_length);
  return buf;
}

EvalResult evaluate(model::TransformerImpl& model, const text::Tokenizer& tokenizer, const PromptData& data,
                    const rewards::RuleSet& rules, const EvalOptions& options) {
  const auto& prompts = data.ids;
  const auto& prompt_texts = data.texts;
  const auto& examples = data.examples;
  const std::string& dataset = data.name;
  ZEROTH_CHECK(prompts.size() == examples.size(), "evaluate: ", prompts.size(), " prompts but ", examples.size(), " examples");
  const auto start = std::chrono::steady_clock::now();
  EvalResult out;
  out.dataset = dataset;
  out.n = static_cast<int64_t>(prompts.size());
  out.k = options.k;
  if (prompts.empty()) return out;

  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  rollout::SamplingOptions s;
  s.num_generations = options.k;
  s.temperature = options.temperature;
  s.top_p = options.top_p;
  s.max_new_tokens = options.max_new_tokens;
  s.stop = options.stop;
  s.seed = options.seed;
  rollout::Sampler sampler(model, &tokenizer, {.num_slots = std::max(options.num_slots, options.k)});
  Progress progress({.label = "eval", .total = out.n * options.k, .unit = "samples"});
  auto rollouts = sampler.sample_groups(prompts, s, [&](int64_t, int64_t) { progress.advance(); });
  progress.finish();
  if (was_training) model.train();

  std::vector<rewards::RewardInput> inputs;
  inputs.reserve(rollouts.completions.size());
  for (const auto& c : rollouts.completions) inputs.emplace_back(c.text, examples[c.prompt_index]);
  auto results = rules.score_batch(inputs);

  double correct_total = 0, length_total = 0, truncated = 0, format_hits = 0, format_seen = 0, reward_total = 0;
  int64_t prompts_with_correct = 0;
  for (int64_t p = 0; p < out.n; ++p) {
    int64_t correct = 0;
    for (int64_t g = 0; g < options.k; ++g) {
      const size_t i = static_cast<size_t>(p * options.k + g);
      const auto& c = rollouts.completions[i];
      const auto& r = results[i];
      const bool ok = is_correct(r);
      correct += ok;
      length_total += static_cast<double>(c.ids.size());
      truncated += c.finish_reason == "length";
      reward_total += r.total;
      if (auto f = component(r, "format")) {
        format_seen += 1;
        format_hits += *f >= 1.0 - 1e-9;
      }
      Json sample{{"prompt", p < static_cast<int64_t>(prompt_texts.size()) ? prompt_texts[p] : ""},
                  {"completion", c.text},
                  {"answer", examples[p].value("answer", Json())},
                  {"rewards", rewards::RuleSet::components_json(r)},
                  {"reward", r.total},
                  {"correct", ok},
                  {"finish_reason", c.finish_reason}};
      out.samples.push_back(std::move(sample));
    }
    correct_total += static_cast<double>(correct) / static_cast<double>(options.k);
    prompts_with_correct += correct > 0;
  }
  const double samples = static_cast<double>(out.n * options.k);
  out.accuracy = correct_total / static_cast<double>(out.n);
  out.pass_at_k = static_cast<double>(prompts_with_correct) / static_cast<double>(out.n);
  out.mean_length = length_total / samples;
  out.truncation_rate = truncated / samples;
  out.reward_mean = reward_total / samples;
  if (format_seen > 0) out.format_rate = format_hits / format_seen;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

Json evaluate_and_record(model::TransformerImpl& model, const text::Tokenizer& tokenizer, const PromptData& data,
                         const rewards::RuleSet& rules, const EvalOptions& options, int64_t step,
                         MetricsWriter& metrics, TensorBoardWriter* tensorboard) {
  if (data.ids.empty()) return Json();
  auto r = evaluate(model, tokenizer, data, rules, options);
  metrics.write(step, r.figures());
  if (tensorboard) tensorboard->add_scalars(step, r.figures());
  spdlog::info("step {}: {}", step, r.summary());
  return r.to_json();
}

}  // namespace zeroth::train
