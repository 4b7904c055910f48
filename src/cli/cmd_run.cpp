// `zeroth run RECIPE.json [--out DIR] [--resume] [--dry-run] [--seed N] [--set STAGE.KEY=VALUE ...]`
// and `zeroth eval --model DIR --data IN.jsonl --rules NAME|FILE [--k K]`.
#include <iostream>

#include "cli/commands.h"
#include "zeroth/core/error.h"
#include "zeroth/stages/eval_command.h"
#include "zeroth/stages/recipe.h"

namespace zeroth::cli {

void add_run_command(CLI::App& app) {
  auto options = std::make_shared<stages::RunOptions>();
  auto seed = std::make_shared<int64_t>(-1);
  CLI::App* sub = app.add_subcommand("run", "Run every stage of a recipe (SFT, GRPO, distill, eval)");
  sub->footer(
      "The run directory gets recipe.json (resolved), summary.json, and per stage model/, metrics.jsonl,\n"
      "samples.jsonl, eval.json and checkpoints/. A stage that finished in an earlier run into the same\n"
      "directory is skipped (--force re-runs it). The whole recipe is checked before anything runs.\n"
      "--out must be new, empty, or a run directory of zeroth's (it holds .zeroth-output.json).\n"
      "Example: zeroth run recipes/tiny/sft_then_grpo.json --out runs/tiny --set grpo.steps=20");
  sub->add_option("recipe", options->recipe, "Recipe JSON file (comments allowed)")->required()->check(CLI::ExistingFile);
  sub->add_option("--out", options->out, "Run directory (default: runs/<recipe name>)");
  sub->add_flag("--resume", options->resume, "Continue an interrupted stage from its last checkpoint");
  sub->add_flag("--dry-run", options->dry_run, "Validate the recipe, print the plan and the absent paths; run nothing");
  sub->add_flag("--force", options->force,
                "Re-run stages that already finished in the run directory; also write into an --out directory "
                "that holds files zeroth did not write (they are left alone)");
  sub->add_option("--seed", *seed, "Seed for the whole run (overrides the recipe's \"seed\")");
  sub->add_option("--set", options->sets, "Override a value: STAGE.KEY=VALUE (VALUE is JSON or a plain string)");
  on_parsed(sub, [options, seed] {
    if (*seed >= 0) options->seed = static_cast<uint64_t>(*seed);
    if (stages::run_recipe(*options) != 0) throw Error("the run stopped at a failed stage (see summary.json)");
  });
}

void add_eval_command(CLI::App& app) {
  auto c = std::make_shared<stages::EvalCommand>();
  CLI::App* sub = app.add_subcommand("eval", "avg@k / pass@k of a model on a dataset");
  sub->footer(
      "Prints one JSON object: dataset, n, k, accuracy (avg@k: mean over prompts of the fraction of\n"
      "correct samples, judged by the rule set's \"accuracy\" component), pass_at_k, format_rate,\n"
      "mean_length, truncation_rate.\n"
      "Example: zeroth eval --model runs/tiny/grpo/model --data data.jsonl --rules r1_math --k 4 --temperature 0.6");
  sub->add_option("--model", c->model, "Model directory (Hugging Face layout)")->required();
  sub->add_option("--data", c->data, "JSONL: question/problem and answer fields (GSM8K '####' answers recognised)")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--rules", c->rules, "Reward rule set: a shipped name (r1_math, gsm8k, countdown) or a file")->required();
  sub->add_option("--k", c->options.k, "Samples per prompt (default 1)")->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  sub->add_option("--max-new-tokens", c->options.max_new_tokens, "Tokens per sample (default 256)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--temperature", c->options.temperature, "0: greedy (default); k > 1 needs > 0");
  sub->add_option("--top-p", c->options.top_p, "Nucleus sampling (default 1)");
  sub->add_option("--seed", c->options.seed, "Sampling seed (default 0)");
  sub->add_option("--prompt", c->prompt, "Prompt template with {fields}, \"r1_zero\", or \"chat\" (default \"{question}\")");
  sub->add_option("--limit", c->limit, "Only the first N examples")->check(CLI::NonNegativeNumber);
  sub->add_option("--dtype", c->dtype, "fp32 | bf16 | fp16 (default fp32)");
  sub->add_option("--device", c->device, "cpu | cuda | cuda:N (default cpu)");
  sub->add_option("--samples", c->samples_out, "Also write every sample with its rewards to this JSONL file");
  on_parsed(sub, [c] {
    if (c->options.k > 1 && c->options.temperature == 0) throw Error("--k > 1 needs --temperature > 0 (greedy samples are all equal)");
    std::cout << stages::run_eval_command(*c).dump() << std::endl;
  });
}

}  // namespace zeroth::cli
