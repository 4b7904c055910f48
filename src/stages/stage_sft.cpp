// The sft stage: supervised fine-tuning on prompt/response pairs or chat messages, loss on the
// response tokens only.
//   {"kind": "sft", "model": ..., "data": {...}, "prompt": "{question}" | {...},
//    "steps" | "epochs", "batch_size", "optimizer": {...}, ..., "eval": {"rules": ..., "k": ...}}
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "stages/stage.h"
#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"
#include "zeroth/rewards/rule_set.h"
#include "zeroth/train/sft_trainer.h"

namespace zeroth::stages {

namespace {

class SftStage : public Stage {
 public:
  SftStage(const JsonReader& r, const RecipeSettings& settings) {
    model = parse_model_source(r);
    dtype_ = stage_dtype(r, settings);
    data_ = parse_data_spec(r.at("data"));
    if (r.has("prompt")) prompt_ = parse_prompt_spec(r.at("prompt"));
    options_ = train::SftOptions::from_json(r);
    if (r.has("eval")) {
      JsonReader e = r.at("eval");
      eval_ = parse_eval_spec(e, &data_, "");
      e.reject_unknown_keys();
    }
  }
  std::string plan() const override {
    std::string p = cat("SFT on ", describe(data_), ", ",
                        options_.steps > 0 ? cat(options_.steps, " steps") : cat(options_.epochs, " epochs"),
                        " of batch ", options_.batch_size, ", lr ", options_.optimizer.lr);
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
    LoadedModel m = load_model(model, dtype_, ctx.settings);
    auto examples = load_examples(data_, Split::kTrain);
    train::SftRun run;
    run.model = m.model.get();
    run.train = make_sft_sequences(examples, prompt_, *m.tokenizer, response_eos(*m.model, *m.tokenizer), data_.where);
    spdlog::info("sft: {} training sequences from {}", run.train.size(), describe(data_));
    std::unique_ptr<rewards::RuleSet> rules;
    if (eval_.enabled) {
      rules = std::make_unique<rewards::RuleSet>(rewards::RuleSet::load(eval_.rules));
      run.rules = rules.get();
      run.eval = load_eval_prompts(eval_, prompt_, *m.tokenizer);
      run.eval_options = eval_.options;
    }
    run.tokenizer = m.tokenizer.get();
    fill_run_context(run, ctx, m);
    return write_stage_outputs(ctx, m, train::train_sft(run, options_));
  }

 private:
  std::string dtype_;
  DataSpec data_;
  PromptSpec prompt_;
  train::SftOptions options_;
  EvalSpec eval_;
};

}  // namespace

std::unique_ptr<Stage> make_sft_stage(const JsonReader& stage, const RecipeSettings& settings) {
  return std::make_unique<SftStage>(stage, settings);
}

}  // namespace zeroth::stages
