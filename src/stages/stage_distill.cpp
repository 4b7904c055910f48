// The distill stage: (a) a teacher samples N reasoning traces per prompt; (b) the rule set keeps only
// correct, well-formatted ones (rejection sampling) with dedup and a length limit, written to
// traces.jsonl with traces_stats.json; (c) the student ("model") is trained with SFT on them.
//   {"kind": "distill", "teacher": "${grpo}", "model": {"init": ...} | DIR, "data": {...},
//    "prompt": ..., "rules": "r1_math",
//    "traces": {"num_samples": 4, "sampling": {...}, "dedup": true, "max_tokens": 0,
//               "require_format": true, "path": "reuse/traces.jsonl"},
//    "train_student": true, SFT keys ("steps", "batch_size", "optimizer", ...), "eval": {...}}
// With traces.path the traces are read instead of generated (no teacher is loaded); with
// "train_student": false the stage stops after writing the traces.
#include <set>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "stages/stage.h"
#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"
#include "zeroth/core/metrics.h"
#include "zeroth/core/random.h"
#include "zeroth/rewards/rule_set.h"
#include "zeroth/rollout/sampler.h"
#include "zeroth/train/sft_trainer.h"

namespace zeroth::stages {

namespace {

class DistillStage : public Stage {
 public:
  DistillStage(const JsonReader& r, const RecipeSettings& settings) {
    model = parse_model_source(r);
    dtype_ = stage_dtype(r, settings);
    data_ = parse_data_spec(r.at("data"));
    if (r.has("prompt")) prompt_ = parse_prompt_spec(r.at("prompt"));
    rules_ = parse_rules(r);
    if (r.has("traces")) {
      JsonReader t = r.at("traces");
      trace_path_ = t.get_or<std::string>("path", "");
      num_samples_ = t.get_or<int64_t>("num_samples", num_samples_);
      if (t.has("sampling")) sampling_ = rollout::parse_sampling_options(t.at("sampling"));
      dedup_ = t.get_or<bool>("dedup", dedup_);
      max_tokens_ = t.get_or<int64_t>("max_tokens", max_tokens_);
      require_format_ = t.get_or<bool>("require_format", require_format_);
      num_slots_ = t.get_or<int64_t>("num_slots", num_slots_);
      t.reject_unknown_keys();
      if (num_samples_ < 1) t.fail("num_samples: expected >= 1");
      if (num_slots_ < 1) t.fail("num_slots: expected >= 1");
    }
    sampling_.num_generations = num_samples_;
    rollout::validate_sampling_options(sampling_, r.where("traces.sampling") + ".");
    if (trace_path_.empty()) {
      teacher_ = parse_model_source(r, "teacher");
    } else {
      r.get_or<Json>("teacher", Json());  // allowed but unused when traces are given
    }
    train_student_ = r.get_or<bool>("train_student", true);
    options_ = train::SftOptions::from_json(r);
    if (r.has("eval")) {
      JsonReader e = r.at("eval");
      eval_ = parse_eval_spec(e, &data_, rules_);
      e.reject_unknown_keys();
    }
  }
  std::vector<ModelSource*> model_sources() override {
    if (trace_path_.empty()) return {&model, &teacher_};
    return {&model};
  }
  bool produces_model() const override { return train_student_; }
  std::string plan() const override {
    std::string p = trace_path_.empty()
                        ? cat("distill: teacher ", teacher_.describe(), " samples ", num_samples_, " traces per prompt of ",
                              describe(data_), ", kept if ", rules_, " says correct")
                        : cat("distill: traces from ", trace_path_);
    if (train_student_) {
      p += cat("; student SFT ", options_.steps > 0 ? cat(options_.steps, " steps") : cat(options_.epochs, " epochs"),
               ", lr ", options_.optimizer.lr);
    }
    return p;
  }
  void check_inputs() const override {
    check_data_and_prompt(name, data_, prompt_);
    if (eval_.enabled) check_data_and_prompt(name, eval_.data, prompt_);
  }
  std::vector<std::pair<std::string, std::string>> inputs() const override {
    std::vector<std::pair<std::string, std::string>> in;
    add_data_inputs(in, name + ": data", data_);
    if (!trace_path_.empty()) in.push_back({name + ": traces", trace_path_});
    return in;
  }

  Json run(const StageContext& ctx) override {
    std::vector<Json> traces;
    if (trace_path_.empty() && ctx.dist != nullptr && ctx.dist->world() > 1) {
      // [dist] rank 0 samples the teacher and writes traces.jsonl; the others read it.
      on_main_rank(ctx, [&] { traces = generate_traces(ctx); });
      if (!ctx.dist->is_main()) traces = read_traces(ctx.dir + "/traces.jsonl");
    } else {
      traces = trace_path_.empty() ? generate_traces(ctx) : read_traces(trace_path_);
    }
    if (!train_student_) return Json();
    if (traces.empty()) throw Error("distill: no trace passed the filter; nothing to train the student on");
    LoadedModel student = load_model(model, dtype_, ctx.settings);
    train::SftRun run;
    run.model = student.model.get();
    run.train = make_sft_sequences(traces, prompt_, *student.tokenizer, response_eos(*student.model, *student.tokenizer),
                                   ctx.dir + "/traces.jsonl");
    rewards::RuleSet rules = rewards::RuleSet::load(rules_);
    run.rules = &rules;
    run.tokenizer = student.tokenizer.get();
    if (eval_.enabled) {
      run.eval = load_eval_prompts(eval_, prompt_, *student.tokenizer);
      run.eval_options = eval_.options;
    }
    fill_run_context(run, ctx, student);
    return write_stage_outputs(ctx, student, train::train_sft(run, options_));
  }

 private:
  std::vector<Json> read_traces(const std::string& path) const {
    DataSpec spec;
    spec.path = path;
    spec.paths = {path};
    spec.where = path;
    return load_examples(spec, Split::kAll);
  }

  std::vector<Json> generate_traces(const StageContext& ctx) const {
    LoadedModel teacher = load_model(teacher_, dtype_, ctx.settings);
    auto examples = load_examples(data_, Split::kTrain);
    auto prompts = make_prompt_data(examples, prompt_, *teacher.tokenizer, describe(data_));
    rewards::RuleSet rules = rewards::RuleSet::load(rules_);
    rollout::SamplingOptions s = sampling_;
    s.seed = derive_seed(ctx.settings.seed, {0x7ACE});
    spdlog::info("distill: teacher samples {} traces for each of {} prompts", num_samples_, prompts.ids.size());
    rollout::RolloutResult rr;
    {
      torch::NoGradGuard no_grad;
      teacher.model->eval();
      rollout::Sampler sampler(*teacher.model, teacher.tokenizer.get(), {.num_slots = std::max(num_slots_, num_samples_)});
      rr = sampler.sample_groups(prompts.ids, s, [](int64_t done, int64_t total) {
        if (done % 256 == 0 || done == total) spdlog::info("distill: {}/{} traces", done, total);
      });
    }
    std::vector<rewards::RewardInput> inputs;
    for (const auto& c : rr.completions) inputs.emplace_back(c.text, prompts.examples[static_cast<size_t>(c.prompt_index)]);
    auto results = rules.score_batch(inputs);

    int64_t incorrect = 0, unformatted = 0, duplicates = 0, too_long = 0, truncated = 0;
    std::set<std::pair<int64_t, std::string>> seen;
    std::set<int64_t> prompts_kept;
    std::vector<Json> kept;
    for (size_t i = 0; i < rr.completions.size(); ++i) {
      const auto& c = rr.completions[i];
      const auto& r = results[i];
      if (c.finish_reason == "length") { ++truncated; continue; }
      if (max_tokens_ > 0 && static_cast<int64_t>(c.ids.size()) > max_tokens_) { ++too_long; continue; }
      if (!train::is_correct(r)) { ++incorrect; continue; }
      auto f = train::component(r, "format");
      if (require_format_ && f && *f < 1.0 - 1e-9) { ++unformatted; continue; }
      if (dedup_ && !seen.insert({c.prompt_index, c.text}).second) { ++duplicates; continue; }
      Json t = prompts.examples[static_cast<size_t>(c.prompt_index)];
      t["prompt"] = prompts.texts[static_cast<size_t>(c.prompt_index)];
      t["response"] = c.text;
      t["reward"] = r.total;
      t["rewards"] = rewards::RuleSet::components_json(r);
      t["num_tokens"] = c.ids.size();
      prompts_kept.insert(c.prompt_index);
      kept.push_back(std::move(t));
    }
    std::string lines;
    for (const auto& t : kept) lines += t.dump() + "\n";
    write_file_atomic(ctx.dir + "/traces.jsonl", lines);
    const double generated = static_cast<double>(rr.completions.size());
    Json stats{{"prompts", prompts.ids.size()},
               {"generated", rr.completions.size()},
               {"kept", kept.size()},
               {"acceptance_rate", generated > 0 ? static_cast<double>(kept.size()) / generated : 0.0},
               {"prompts_with_a_trace", prompts_kept.size()},
               {"rejected_incorrect", incorrect},
               {"rejected_format", unformatted},
               {"rejected_duplicate", duplicates},
               {"rejected_too_long", too_long},
               {"rejected_truncated", truncated}};
    write_file_atomic(ctx.dir + "/traces_stats.json", stats.dump(2) + "\n");
    spdlog::info("distill: kept {} of {} traces ({} prompts covered): {}", kept.size(), rr.completions.size(),
                 prompts_kept.size(), stats.dump());
    return kept;
  }

  std::string dtype_, rules_, trace_path_;
  DataSpec data_;
  PromptSpec prompt_;
  ModelSource teacher_;
  rollout::SamplingOptions sampling_;
  int64_t num_samples_ = 4, max_tokens_ = 0, num_slots_ = 64;
  bool dedup_ = true, require_format_ = true, train_student_ = true;
  train::SftOptions options_;
  EvalSpec eval_;
};

}  // namespace

std::unique_ptr<Stage> make_distill_stage(const JsonReader& stage, const RecipeSettings& settings) {
  return std::make_unique<DistillStage>(stage, settings);
}

}  // namespace zeroth::stages
