// Recipes: a JSON file (comments allowed) with "stages": [...], each stage an sft, grpo, distill or
// eval step. The whole recipe is validated before anything runs (every error at once, each naming
// the file and JSON path); then the stages run in order, each reading a model directory and writing
// one, into the run directory of docs/architecture.md ("Run directory (contract)").
//
//   RunOptions o;  o.recipe = "recipes/tiny/sft_then_grpo.json";  o.out = "runs/tiny";
//   int code = run_recipe(o);   // 0: every stage finished
//
// --set STAGE.KEY=VALUE overrides one value before validation: STAGE is a stage name (default: its
// kind), KEY a dotted path inside it (optimizer.lr), VALUE JSON or else a plain string; a KEY with
// no stage name in front (seed=3) sets a top-level key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "zeroth/core/json.h"

namespace zeroth::stages {

struct RunOptions {
  std::string recipe;
  std::string out;                      // run directory (default: runs/<recipe file stem>)
  bool resume = false;                  // continue a stage from its last checkpoint
  bool dry_run = false;                 // validate and print the plan; run nothing
  bool force = false;                   // re-run stages that already finished in `out`
  std::optional<uint64_t> seed;         // overrides the recipe's seed
  std::vector<std::string> sets;        // STAGE.KEY=VALUE
};

// Runs (or with dry_run, plans) a recipe. Returns the process exit code: 0 when every stage
// finished (or the dry run found the recipe valid), 1 otherwise. Throws Error for an invalid recipe.
int run_recipe(const RunOptions& options);

// The recipe after --set overrides and --seed (exposed for tests). `source` names it in errors.
Json apply_overrides(Json recipe, const std::vector<std::string>& sets, const std::string& source);

}  // namespace zeroth::stages
