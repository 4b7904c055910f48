// The grpo stage: the GRPO trainer configured from the recipe.
//   {"kind": "grpo", "model": "${previous}", "data": {...}, "prompt": ..., "rules": "r1_math",
//    "steps", "prompts_per_step", "sampling": {...}, "loss": {...}, "advantage": {...},
//    "optimizer": {...}, "mu", ..., "eval": {...}}
// The reference model for the KL term (loss.beta > 0) is the stage's input model unless
// "reference" names another; with beta = 0 none is loaded.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "stages/stage.h"
#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"
#include "zeroth/rewards/rule_set.h"
#include "zeroth/train/grpo_trainer.h"

namespace zeroth::stages {

namespace {

class GrpoStage : public Stage {
 public:
  GrpoStage(const JsonReader& r, const RecipeSettings& settings) {
    model = parse_model_source(r);
    if (r.has("reference")) {
      reference_ = parse_model_source(r, "reference");
      has_reference_ = true;
    }
    dtype_ = stage_dtype(r, settings);
    data_ = parse_data_spec(r.at("data"));
    if (r.has("prompt")) prompt_ = parse_prompt_spec(r.at("prompt"));
    rules_ = parse_rules(r);
    options_ = train::GrpoOptions::from_json(r);
    if (r.has("eval")) {
      JsonReader e = r.at("eval");
      eval_ = parse_eval_spec(e, &data_, rules_);
      e.reject_unknown_keys();
    }
  }
  std::vector<ModelSource*> model_sources() override {
    if (has_reference_) return {&model, &reference_};
    return {&model};
  }
  std::string plan() const override {
    std::string p = cat("GRPO on ", describe(data_), " with rules ", rules_, ": ", options_.steps, " steps x ",
                        options_.prompts_per_step, " prompts x G=", options_.sampling.num_generations,
                        ", max ", options_.sampling.max_new_tokens, " new tokens, lr ", options_.optimizer.lr,
                        ", beta ", options_.loss.beta, ", ", algo::loss_aggregation_name(options_.loss.loss_agg_mode),
                        ", clip ", options_.loss.epsilon_low, "/", options_.loss.epsilon_high);
    if (eval_.enabled) p += cat("; eval with ", eval_.rules, " (k=", eval_.options.k, ")");
    return p;
  }
  void check_inputs() const override {
    check_data_and_prompt(name, data_, prompt_);
    if (eval_.enabled) check_data_and_prompt(name, eval_.data, prompt_);
  }
  std::vector<std::pair<std::string, std::string>> inputs() const override {
    std::vector<std::pair<std::string, std::string>> in;
    add_data_inputs(in, name + ": data", data_);
    return in;
  }
  Json run(const StageContext& ctx) override {
    LoadedModel policy = load_model(model, dtype_, ctx.settings);
    LoadedModel reference;
    if (options_.loss.needs_reference()) {
      reference = load_model(has_reference_ ? reference_ : model, dtype_, ctx.settings);
      reference.model->eval();
      for (auto& p : reference.model->parameters()) p.set_requires_grad(false);
    }
    rewards::RuleSet rules = rewards::RuleSet::load(rules_);
    train::GrpoRun run;
    run.policy = policy.model.get();
    run.reference = reference.model ? reference.model.get() : nullptr;
    run.tokenizer = policy.tokenizer.get();
    run.rules = &rules;
    run.train = make_prompt_data(load_examples(data_, Split::kTrain), prompt_, *policy.tokenizer, describe(data_));
    if (eval_.enabled) {
      run.eval = load_eval_prompts(eval_, prompt_, *policy.tokenizer);
      run.eval_options = eval_.options;
    }
    spdlog::info("grpo: {} training prompts, {} eval prompts", run.train.ids.size(), run.eval.ids.size());
    fill_run_context(run, ctx, policy);
    return write_stage_outputs(ctx, policy, train::train_grpo(run, options_));
  }

 private:
  ModelSource reference_;
  bool has_reference_ = false;
  std::string dtype_, rules_;
  DataSpec data_;
  PromptSpec prompt_;
  train::GrpoOptions options_;
  EvalSpec eval_;
};

}  // namespace

std::unique_ptr<Stage> make_grpo_stage(const JsonReader& stage, const RecipeSettings& settings) {
  return std::make_unique<GrpoStage>(stage, settings);
}

}  // namespace zeroth::stages
