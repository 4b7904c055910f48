// `zeroth eval`: one model, one dataset, one rule set -> the eval.json figures (avg@k, pass@k,
// format rate, mean length), without a recipe.
#pragma once

#include <string>

#include "zeroth/core/json.h"
#include "zeroth/train/evaluate.h"

namespace zeroth::stages {

struct EvalCommand {
  std::string model;                 // model directory (HF layout)
  std::string data;                  // JSONL (GSM8K / MATH-style fields are recognised)
  std::string rules;                 // rule set name or file
  std::string prompt = "{question}"; // template, or "r1_zero", or "chat" for the chat template
  std::string dtype = "fp32";
  std::string device = "cpu";
  int64_t limit = 0;                 // first N examples (0: all)
  std::string samples_out;           // optional JSONL of every sample
  train::EvalOptions options;
};

Json run_eval_command(const EvalCommand& command);

}  // namespace zeroth::stages
