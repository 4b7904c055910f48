// Datasets for the stages: JSONL files with field mapping (GSM8K, MATH-style, prompt/response, chat
// messages) or deterministic generators (countdown, arithmetic), a held-out split, and prompt
// rendering (a plain template such as R1-Zero's, or the model's chat template).
//
//   DataSpec spec = parse_data_spec(recipe.at("stages").at(0).at("data"));
//   std::vector<Json> train = load_examples(spec, Split::kTrain);
//   PromptSpec prompt = parse_prompt_spec(stage.at("prompt"));
//   std::string text = render_prompt(prompt, train[0], &tokenizer);
//
// Every example is a JSON object with the normalized keys "question" (the problem text), "answer"
// (the gold, as the reward rule sets read it) and, where the source has one, "response" (an SFT
// target) or "messages" (a chat); other fields of the source line are kept as they are (countdown
// keeps "numbers" and "target"), so the verifiers see them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "zeroth/core/json.h"

namespace zeroth::text {
class Tokenizer;
}

namespace zeroth::stages {

enum class Split { kTrain, kEval, kAll };

struct DataSpec {
  std::string where;             // "recipe.json: stages[0].data", for messages
  // Source: a JSONL file, or a generator.
  std::string path;               // the first of `paths`
  std::vector<std::string> paths; // "path": "a.jsonl" or ["a.jsonl", "b.jsonl"] (concatenated)
  std::string generator;         // "countdown" | "arithmetic"
  Json generator_params = Json::object();
  int64_t num_examples = 0;      // generator: examples to draw (before the split)
  uint64_t seed = 1234;          // generator seed (not the run seed: the data stays put across runs)
  // Field mapping (empty: the first present of the usual names).
  std::string question_field;    // question | problem | prompt
  std::string answer_field;      // answer | solution
  std::string response_field;    // response | completion | output
  std::string messages_field;    // messages
  std::string answer_format = "auto";  // auto | gsm8k (gold after ####) | plain
  // Held-out split: every example whose question hashes into the eval share goes to kEval, so the two
  // are disjoint and stable whatever the number of examples drawn.
  double eval_fraction = 0.0;
  int64_t limit = 0;             // keep at most this many after the split (0: all)
};

DataSpec parse_data_spec(const JsonReader& reader);
// The examples of one split (kAll ignores eval_fraction). Errors name the file and line.
std::vector<Json> load_examples(const DataSpec& spec, Split split);
// The first `per_file` examples of each file of `spec` (the generator's first ones for generated
// data): what `zeroth run` reads of every stage before the first one starts, so that a directory,
// an empty or garbled file, or a missing field is found before any training. Errors as load_examples.
std::vector<Json> peek_examples(const DataSpec& spec, int64_t per_file);
// Human-readable source for plans and logs.
std::string describe(const DataSpec& spec);

struct PromptSpec {
  // "template": `text` with {field} placeholders filled from the example;
  // "chat": the tokenizer's chat template over [system?, user: question] with the generation prompt.
  std::string kind = "template";
  std::string text = "{question}";
  std::string system;
  // "chat" only: template variables beside messages, as transformers' apply_chat_template takes
  // them: "tools", "documents", "date_string" and the keys of "chat_template_kwargs" (e.g.
  // enable_thinking). An example's own "tools" / "documents" fields take precedence.
  Json chat_variables = Json::object();
};

// The R1-Zero prompt of the DeepSeek-R1 paper (Table 1), with the {question} placeholder.
extern const char* const kR1ZeroTemplate;

// Reads {"template": "..." | "r1_zero"} or {"chat": true, "system": "...", "tools": [...],
// "documents": [...], "date_string": "...", "chat_template_kwargs": {...}}; a string is a template.
PromptSpec parse_prompt_spec(const JsonReader& reader);
std::string render_prompt(const PromptSpec& spec, const Json& example, const text::Tokenizer* tokenizer);

// Generators (deterministic in `seed`). Each example has question, answer, response (an R1-format
// trace: <think>...</think> <answer>...</answer>) and its own fields.
//  countdown: params {"count": 3 (numbers), "max_number": 20, "max_target": 100}; the target is made
//             from the numbers by construction, so every example is solvable.
//  arithmetic: params {"digits": 2, "ops": "+-*", "carry_error_rate": 0}; "a op b", exact integer
//             answers; addition traces work column by column, and with carry_error_rate that share of
//             the traces forgets a carry (a noisy cold-start set: its final answer is then wrong,
//             while "answer" stays the true gold); with plain_fraction, that share of the responses
//             is the bare correct number (a "base model" corpus, for the R1-Zero tiny recipe).
std::vector<Json> generate_examples(const std::string& generator, const Json& params, int64_t count, uint64_t seed,
                                    const std::string& where);

}  // namespace zeroth::stages
