// The eval stage: avg@k / pass@k of a model on a dataset with a reward rule set.
//   {"kind": "eval", "model": "${previous}", "data": {...}, "prompt": ..., "rules": "r1_math",
//    "k": 1, "max_new_tokens": 256, "temperature": 0, "limit": 0}
// Writes eval.json (the contract's figures) and samples.jsonl (every sample with its rewards).
#include <spdlog/spdlog.h>

#include "stages/stage.h"
#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"
#include "zeroth/core/metrics.h"
#include "zeroth/rewards/rule_set.h"

namespace zeroth::stages {

namespace {

class EvalStage : public Stage {
 public:
  EvalStage(const JsonReader& r, const RecipeSettings& settings) {
    model = parse_model_source(r);
    dtype_ = stage_dtype(r, settings);
    if (r.has("prompt")) prompt_ = parse_prompt_spec(r.at("prompt"));
    if (!r.has("data")) r.fail("missing \"data\": the dataset to evaluate on");
    if (!r.has("rules")) r.fail("missing \"rules\": the reward rule set that judges correctness");
    spec_ = parse_eval_spec(r, nullptr, "");
  }
  bool produces_model() const override { return false; }
  std::string plan() const override {
    return cat("eval on ", describe(spec_.data), spec_.limit ? cat(" (first ", spec_.limit, ")") : "", " with rules ",
               spec_.rules, ", k=", spec_.options.k, ", temperature ", spec_.options.temperature, ", max ",
               spec_.options.max_new_tokens, " new tokens");
  }
  void check_inputs() const override { check_data_and_prompt(name, spec_.data, prompt_); }
  std::vector<std::pair<std::string, std::string>> inputs() const override {
    std::vector<std::pair<std::string, std::string>> in;
    add_data_inputs(in, name + ": data", spec_.data);
    return in;
  }
  Json run(const StageContext& ctx) override {
    LoadedModel m = load_model(model, dtype_, ctx.settings);
    auto rules = rewards::RuleSet::load(spec_.rules);
    auto prompts = load_eval_prompts(spec_, prompt_, *m.tokenizer);
    Json eval;
    on_main_rank(ctx, [&] {  // [dist] rank 0 evaluates and writes; the others wait
      auto r = train::evaluate(*m.model, *m.tokenizer, prompts, rules, spec_.options);
      spdlog::info("{}", r.summary());
      MetricsWriter samples(ctx.dir + "/samples.jsonl", true);
      for (const auto& s : r.samples) samples.write_line(s);
      eval = r.to_json();
      write_file_atomic(ctx.dir + "/eval.json", eval.dump(2) + "\n");
    });
    return eval;
  }

 private:
  std::string dtype_;
  PromptSpec prompt_;
  EvalSpec spec_;
};

}  // namespace

std::unique_ptr<Stage> make_eval_stage(const JsonReader& stage, const RecipeSettings& settings) {
  return std::make_unique<EvalStage>(stage, settings);
}

}  // namespace zeroth::stages

#include "zeroth/stages/eval_command.h"

namespace zeroth::stages {

Json run_eval_command(const EvalCommand& c) {
  ModelSource source;
  source.path = c.model;
  source.where = "--model";
  require_directory(c.model, "--model");
  RecipeSettings settings;
  settings.device = c.device;
  LoadedModel m = load_model(source, c.dtype, settings);
  auto rules = rewards::RuleSet::load(c.rules);
  PromptSpec prompt;
  if (c.prompt == "chat") {
    prompt.kind = "chat";
  } else {
    prompt.text = c.prompt == "r1_zero" ? kR1ZeroTemplate : c.prompt;
  }
  EvalSpec spec;
  spec.enabled = true;
  spec.data.path = c.data;
  spec.data.paths = {c.data};
  spec.data.where = "--data";
  spec.limit = c.limit;
  spec.rules = c.rules;
  spec.options = c.options;
  auto prompts = load_eval_prompts(spec, prompt, *m.tokenizer);
  auto r = train::evaluate(*m.model, *m.tokenizer, prompts, rules, c.options);
  spdlog::info("{}", r.summary());
  if (!c.samples_out.empty()) {
    std::string lines;
    for (const auto& s : r.samples) lines += s.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
    write_file_atomic(c.samples_out, lines);
  }
  return r.to_json();
}

}  // namespace zeroth::stages
