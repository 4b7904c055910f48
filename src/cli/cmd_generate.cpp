// `zeroth generate`: G completions per JSONL prompt from a model directory, with the sampler.
// In: {"prompt": "..."} or {"prompt_ids": [...]} (other fields are passed through). Out: one line
// per completion: the input fields plus completion, completion_ids, logprobs (untempered model),
// sampling_logprobs, finish_reason, sample_index.
#include <fstream>
#include <iostream>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "cli/commands.h"
#include "zeroth/core/device.h"
#include "zeroth/core/error.h"
#include "zeroth/core/json.h"
#include "zeroth/core/memory.h"
#include "zeroth/model/checkpoint.h"
#include "zeroth/rollout/sampler.h"
#include "zeroth/text/tokenizer.h"

namespace zeroth::cli {

namespace {

struct GenerateArgs {
  std::string model, prompts, dtype = "fp32", device = "cpu";
  int64_t slots = 0;
  rollout::SamplingOptions sampling;
};

void run_generate(const GenerateArgs& args) {
  rollout::validate_sampling_options(args.sampling, "--");
  auto device = parse_device(args.device);
  auto dtype = parse_dtype(args.dtype);
  auto model = model::load_hf_model(args.model, dtype, device);
  text::Tokenizer tokenizer = text::Tokenizer::from_file(args.model);

  std::ifstream in(args.prompts);
  if (!in) throw Error(args.prompts + ": cannot open");
  std::vector<Json> inputs;
  std::vector<std::vector<int64_t>> prompts;
  std::string line;
  int64_t line_number = 0, failed = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      Json object = parse_jsonl_line(line, cat(args.prompts, ":", line_number));
      JsonReader reader(object, cat(args.prompts, ":", line_number));
      std::vector<int64_t> ids;
      if (reader.has("prompt_ids")) {
        ids = reader.get<std::vector<int64_t>>("prompt_ids");
      } else if (reader.has("prompt")) {
        for (int32_t id : tokenizer.encode(reader.get<std::string>("prompt"))) ids.push_back(id);
      } else {
        throw Error(cat(args.prompts, ":", line_number, ": expected a \"prompt\" string or \"prompt_ids\" array"));
      }
      if (ids.empty()) throw Error(cat(args.prompts, ":", line_number, ": the prompt is empty"));
      for (int64_t id : ids) {
        if (id < 0 || id >= model->config().vocab_size) {
          throw Error(cat(args.prompts, ":", line_number, ": token id ", id, " is outside the vocabulary"));
        }
      }
      inputs.push_back(std::move(object));
      prompts.push_back(std::move(ids));
    } catch (const Error& e) {
      std::cerr << at_line(cat(args.prompts, ":", line_number), e.what()) << "\n";
      ++failed;
    }
  }

  int64_t slots = args.slots > 0 ? args.slots : std::max<int64_t>(args.sampling.num_generations, 16);
  rollout::Sampler sampler(*model, &tokenizer, {.num_slots = slots});
  const int64_t total = static_cast<int64_t>(prompts.size()) * args.sampling.num_generations;
  rollout::RolloutResult result;
  try {
    result = sampler.sample_groups(prompts, args.sampling, [&](int64_t done, int64_t all) {
      if (done == all || done % std::max<int64_t>(1, all / 10) == 0) spdlog::info("generate: {}/{} completions", done, all);
    });
  } catch (const std::exception& e) {
    const auto detail = allocation_failure(e);
    if (!detail) throw;
    throw Error(cat(args.prompts, ": out of memory while sampling ", total, " completions with ", slots, " slots",
                    *detail, "; lower --slots, --n or --max-new-tokens"));
  }
  for (const auto& c : result.completions) {
    Json out = inputs[c.prompt_index];
    out["completion"] = c.text;
    out["completion_ids"] = c.ids;
    out["logprobs"] = c.logprobs;
    out["sampling_logprobs"] = c.sampling_logprobs;
    out["finish_reason"] = c.finish_reason;
    out["sample_index"] = c.sample_index;
    std::cout << out.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
  }
  std::cout.flush();
  const auto& st = result.stats;
  spdlog::info("generate: {} completions, prefill {:.0f} tok/s, decode {:.1f} tok/s, slot occupancy {:.2f}", total,
               st.prefill_seconds > 0 ? st.prefill_tokens / st.prefill_seconds : 0.0,
               st.decode_seconds > 0 ? st.decode_tokens / st.decode_seconds : 0.0, st.slot_occupancy);
  if (failed > 0) throw Error(cat(failed, " input line(s) failed; see the messages above"));
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* sub = app.add_subcommand("generate", "Sample G completions per JSONL prompt (continuous batching)");
  sub->add_option("--model", args->model, "Model directory (Hugging Face layout, with tokenizer.json)")->required();
  sub->add_option("--prompts", args->prompts, "JSONL: {\"prompt\": text} or {\"prompt_ids\": [...]}")->required();
  auto& s = args->sampling;
  sub->add_option("--n", s.num_generations, "Completions per prompt")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  sub->add_option("--max-new-tokens", s.max_new_tokens,
                  "Stop after this many tokens (prompt + this must fit the model's max_position_embeddings)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--temperature", s.temperature, "0 = greedy")->capture_default_str();
  sub->add_option("--top-p", s.top_p, "Nucleus mass (1 disables)")->capture_default_str();
  sub->add_option("--top-k", s.top_k, "Keep the k most likely tokens (0 disables)")->capture_default_str();
  sub->add_option("--min-p", s.min_p, "Drop tokens below min-p x the top probability")->capture_default_str();
  sub->add_option("--repetition-penalty", s.repetition_penalty, "CTRL penalty on seen tokens (1 disables)")->capture_default_str();
  sub->add_option("--presence-penalty", s.presence_penalty)->capture_default_str();
  sub->add_option("--frequency-penalty", s.frequency_penalty)->capture_default_str();
  sub->add_option("--stop", s.stop, "Stop string (repeatable); the text is cut before it");
  sub->add_option("--seed", s.seed, "Base seed; each completion has its own stream")->capture_default_str();
  sub->add_option("--slots", args->slots, "Sequences decoded together (default max(n, 16))")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--dtype", args->dtype, "fp32 | bf16 | fp16")->capture_default_str();
  sub->add_option("--device", args->device, "cpu | cuda[:N] | auto")->capture_default_str();
  on_parsed(sub, [args] { run_generate(*args); });
}

}  // namespace zeroth::cli
