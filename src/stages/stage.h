// The stage interface the recipe runner drives, and what stages share: where a stage's model comes
// from, loading it, and the run-wide settings. Private to src/stages.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "zeroth/core/json.h"
#include "zeroth/model/transformer.h"
#include "zeroth/stages/data.h"
#include "zeroth/text/tokenizer.h"
#include "zeroth/train/batching.h"
#include "zeroth/train/distributed.h"
#include "zeroth/train/evaluate.h"

namespace zeroth::stages {

struct RecipeSettings {
  uint64_t seed = 1;
  std::string device = "cpu";
  std::string dtype = "fp32";
  int threads = 0;            // torch intra-op threads (0: library default)
};

// Where a stage's input model comes from: a directory in Hugging Face layout (an explicit path, or
// "${previous}" / "${STAGE}" resolved to an earlier stage's output), or a random init from a config
// file and a tokenizer directory ({"init": {"config": ..., "tokenizer": ..., "seed": N}}).
struct ModelSource {
  std::string where;          // JSON path, for messages
  std::string path;           // after resolution: the directory
  std::string reference;      // "${previous}" or "${NAME}" before resolution
  std::string init_config;    // random init: config.json path
  std::string init_tokenizer; // random init: tokenizer directory
  std::optional<int64_t> init_seed;  // default: the run's seed
  bool is_init() const { return !init_config.empty(); }
  std::string describe() const;
};

ModelSource parse_model_source(const JsonReader& stage, const std::string& key = "model");

struct LoadedModel {
  model::Transformer model{nullptr};
  std::shared_ptr<text::Tokenizer> tokenizer;
  std::string tokenizer_dir;  // where the tokenizer files are (copied into saved models)
};

// Loads (or random-inits) the model of `source` on the run's device in `dtype`.
LoadedModel load_model(const ModelSource& source, const std::string& dtype, const RecipeSettings& settings);

// Writes `model` in Hugging Face layout into `dir` with the tokenizer files of `tokenizer_dir`.
void save_model(model::TransformerImpl& model, const std::string& tokenizer_dir, const std::string& dir);

// The stage's "dtype" (default: the recipe's).
std::string stage_dtype(const JsonReader& stage, const RecipeSettings& settings);

// check_inputs of a stage with `data` and `prompt`: the first examples of each file parse, carry
// their fields, and fill the prompt template's placeholders (chat prompts need the tokenizer and
// are checked when the stage loads it). Errors name the stage, the file and the line.
void check_data_and_prompt(const std::string& stage, const DataSpec& data, const PromptSpec& prompt);
// The files of a data spec as (what, path) entries for the runner's missing-input check.
void add_data_inputs(std::vector<std::pair<std::string, std::string>>& inputs, const std::string& what, const DataSpec& data);

// Prompts rendered and tokenized. Plain templates are encoded with the tokenizer's special tokens
// (BOS where it adds one, as Hugging Face's tokenizer(text) does); chat renderings already hold them.
train::PromptData make_prompt_data(const std::vector<Json>& examples, const PromptSpec& prompt,
                                   const text::Tokenizer& tokenizer, const std::string& name);

// The "eval" object of a training stage, or an eval stage's own keys: which data (its own "data",
// else the held-out split of the stage's data), which rule set, how many prompts, and sampling.
struct EvalSpec {
  bool enabled = false;
  DataSpec data;
  Split split = Split::kAll;
  std::string rules;
  int64_t limit = 0;              // prompts (0: all)
  train::EvalOptions options;
};
EvalSpec parse_eval_spec(const JsonReader& eval, const DataSpec* stage_data, const std::string& default_rules);
// The eval prompts of `spec` (empty when disabled).
train::PromptData load_eval_prompts(const EvalSpec& spec, const PromptSpec& prompt, const text::Tokenizer& tokenizer);

// SFT sequences: the rendered prompt, then the response ("response" field, or the first assistant
// message of "messages") followed by `eos`. Errors name `where` and the example.
std::vector<train::Sequence> make_sft_sequences(const std::vector<Json>& examples, const PromptSpec& prompt,
                                                const text::Tokenizer& tokenizer, int64_t eos, const std::string& where);

// The "rules" of a stage: loaded once to check it exists and parses; errors name the JSON path.
std::string parse_rules(const JsonReader& stage, const std::string& key = "rules", const std::string& fallback = "");

// The EOS id a response ends with: the model's first eos_token_id, else the tokenizer's.
int64_t response_eos(const model::TransformerImpl& model, const text::Tokenizer& tokenizer);

struct StageContext {
  std::string run_dir;
  std::string dir;            // RUN_DIR/<name>
  RecipeSettings settings;
  bool resume = false;
  train::Distributed* dist = nullptr;  // data parallel (null: one process); rank 0 writes the stage's files
};

// [dist] Rank 0 runs `write` (saving the model, eval.json); the other ranks wait for it.
inline void on_main_rank(const StageContext& ctx, const std::function<void()>& write) {
  if (ctx.dist == nullptr || ctx.dist->is_main()) write();
  if (ctx.dist != nullptr) ctx.dist->barrier(std::chrono::hours(24));
}

class Stage {
 public:
  virtual ~Stage() = default;
  std::string name, kind;
  ModelSource model;
  // The model sources the runner resolves ("${previous}"): the input model, and others (a teacher).
  virtual std::vector<ModelSource*> model_sources() { return {&model}; }
  // Whether the stage writes RUN_DIR/<name>/model for the next stage.
  virtual bool produces_model() const { return true; }
  // One line for the plan of --dry-run.
  virtual std::string plan() const = 0;
  // Files and directories the stage reads: (what, path). Model sources are listed by the runner.
  virtual std::vector<std::pair<std::string, std::string>> inputs() const { return {}; }
  // Reads the first examples of each data input and renders their prompts. The runner calls it for
  // every stage before the first one starts, so a bad stage-2 file stops the run before stage 1.
  virtual void check_inputs() const {}
  // Runs the stage; returns its eval result object (or null when it has none).
  virtual Json run(const StageContext& context) = 0;
};

// What every training run takes from the stage context, and a saver for its checkpoints.
template <typename Run>
void fill_run_context(Run& run, const StageContext& ctx, LoadedModel& m) {
  run.dir = ctx.dir;
  run.seed = ctx.settings.seed;
  run.resume = ctx.resume;
  run.dist = ctx.dist;
  run.save_model = [&m](const std::string& dir) { save_model(*m.model, m.tokenizer_dir, dir); };
}

// A training stage's outputs (rank 0 writes, the others wait): the model in `ctx.dir/model` and
// `ctx.dir/eval.json` when there is an evaluation. Returns `eval`.
Json write_stage_outputs(const StageContext& ctx, LoadedModel& m, const Json& eval);

std::unique_ptr<Stage> make_sft_stage(const JsonReader& stage, const RecipeSettings& settings);
std::unique_ptr<Stage> make_grpo_stage(const JsonReader& stage, const RecipeSettings& settings);
std::unique_ptr<Stage> make_distill_stage(const JsonReader& stage, const RecipeSettings& settings);
std::unique_ptr<Stage> make_eval_stage(const JsonReader& stage, const RecipeSettings& settings);

}  // namespace zeroth::stages
