// What the stages share: model sources and loading.
#include "stages/stage.h"

#include <torch/torch.h>

#include "zeroth/core/device.h"
#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"
#include "zeroth/model/checkpoint.h"
#include "zeroth/model/config.h"
#include "zeroth/rewards/rule_set.h"

namespace zeroth::stages {

std::string ModelSource::describe() const {
  if (is_init()) {
    return cat("random init of ", init_config, " with the tokenizer in ", init_tokenizer,
               init_seed ? cat(" (seed ", *init_seed, ")") : std::string(" (the run's seed)"));
  }
  return path;
}

ModelSource parse_model_source(const JsonReader& stage, const std::string& key) {
  ModelSource m;
  m.where = stage.where(key);
  if (!stage.has(key)) stage.fail(cat("missing ", quote(key), ": a model directory, \"${previous}\", or {\"init\": {...}}"));
  JsonReader r = stage.at(key);
  if (r.json().is_string()) {
    std::string value = r.as<std::string>();
    if (value.empty()) r.fail("expected a model directory, got an empty string");
    if (value.rfind("${", 0) == 0) {
      if (value.back() != '}') r.fail(cat("malformed reference ", quote(value), "; expected \"${previous}\" or \"${STAGE}\""));
      m.reference = value;
    }
    m.path = value;
    return m;
  }
  if (!r.is_object()) r.fail(cat("expected a model directory or {\"init\": {...}}, got ", json_type_name(r.json())));
  JsonReader init = r.at("init");
  m.init_config = init.get<std::string>("config");
  m.init_tokenizer = init.get<std::string>("tokenizer");
  m.init_seed = init.opt<int64_t>("seed");
  init.reject_unknown_keys();
  r.reject_unknown_keys();
  return m;
}

LoadedModel load_model(const ModelSource& source, const std::string& dtype_name, const RecipeSettings& settings) {
  const auto device = parse_device(settings.device);
  const auto dtype = parse_dtype(dtype_name);
  LoadedModel out;
  if (source.is_init()) {
    out.tokenizer_dir = source.init_tokenizer;
    out.tokenizer = std::make_shared<text::Tokenizer>(text::Tokenizer::from_file(source.init_tokenizer));
    Json config = load_json(source.init_config);
    auto cfg = model::parse_model_config(JsonReader(config, source.init_config));
    if (cfg.vocab_size < out.tokenizer->vocab_size()) {
      throw Error(cat(source.init_config, ": vocab_size ", cfg.vocab_size, " is smaller than the tokenizer's ",
                      out.tokenizer->vocab_size(), " ids (", source.init_tokenizer, ")"));
    }
    if (cfg.eos_token_ids.empty() && out.tokenizer->eos_token_id()) cfg.eos_token_ids = {*out.tokenizer->eos_token_id()};
    torch::manual_seed(source.init_seed ? static_cast<uint64_t>(*source.init_seed) : settings.seed);
    out.model = model::Transformer(cfg);
    model::init_weights(*out.model);
    out.model->to(device, dtype);
  } else {
    out.tokenizer_dir = source.path;
    out.tokenizer = std::make_shared<text::Tokenizer>(text::Tokenizer::from_file(source.path));
    out.model = model::load_hf_model(source.path, dtype, device);
  }
  return out;
}

}  // namespace zeroth::stages

namespace zeroth::stages {

void save_model(model::TransformerImpl& model, const std::string& tokenizer_dir, const std::string& dir) {
  model::SaveOptions options;
  options.copy_from = tokenizer_dir;
  // Inside the run directory, which was claimed before the first stage: a model directory the user
  // put there keeps its other files (save_hf_model replaces only zeroth's).
  options.force = true;
  model::save_hf_model(model, dir, options);
}

std::string stage_dtype(const JsonReader& stage, const RecipeSettings& settings) {
  std::string dtype = stage.get_or<std::string>("dtype", settings.dtype);
  try {
    parse_dtype(dtype);
  } catch (const Error& e) {
    stage.fail(cat("dtype: ", e.what()));
  }
  return dtype;
}

void check_data_and_prompt(const std::string& stage, const DataSpec& data, const PromptSpec& prompt) {
  try {
    for (const Json& example : peek_examples(data, 4)) {
      if (prompt.kind != "chat") render_prompt(prompt, example, nullptr);
    }
  } catch (Error& e) {
    e.add_context(cat("stage ", quote(stage)));
    throw;
  }
}

void add_data_inputs(std::vector<std::pair<std::string, std::string>>& inputs, const std::string& what, const DataSpec& data) {
  for (const auto& path : data.paths) inputs.push_back({what, path});
}

train::PromptData make_prompt_data(const std::vector<Json>& examples, const PromptSpec& prompt,
                                   const text::Tokenizer& tokenizer, const std::string& name) {
  train::PromptData data;
  data.name = name;
  for (const auto& e : examples) {
    std::string text = render_prompt(prompt, e, &tokenizer);
    auto ids32 = tokenizer.encode(text, /*add_special_tokens=*/prompt.kind != "chat");
    if (ids32.empty()) throw Error(cat(name, ": a prompt renders to no tokens: ", quote(text)));
    data.ids.emplace_back(ids32.begin(), ids32.end());
    data.texts.push_back(std::move(text));
    data.examples.push_back(e);
  }
  return data;
}

EvalSpec parse_eval_spec(const JsonReader& r, const DataSpec* stage_data, const std::string& default_rules) {
  EvalSpec spec;
  spec.enabled = true;
  if (r.has("data")) {
    spec.data = parse_data_spec(r.at("data"));
    spec.split = spec.data.eval_fraction > 0 ? Split::kEval : Split::kAll;
  } else if (stage_data != nullptr && stage_data->eval_fraction > 0) {
    spec.data = *stage_data;
    spec.split = Split::kEval;
  } else {
    r.fail("no eval data: give \"data\", or an \"eval_fraction\" in the stage's data for a held-out split");
  }
  spec.rules = parse_rules(r, "rules", default_rules);
  spec.limit = r.get_or<int64_t>("limit", 0);
  if (spec.limit < 0) r.fail("limit: expected >= 0");
  spec.options = train::EvalOptions::from_json(r);
  return spec;
}

train::PromptData load_eval_prompts(const EvalSpec& spec, const PromptSpec& prompt, const text::Tokenizer& tokenizer) {
  if (!spec.enabled) return {};
  auto examples = load_examples(spec.data, spec.split);
  if (spec.limit > 0 && static_cast<int64_t>(examples.size()) > spec.limit) examples.resize(static_cast<size_t>(spec.limit));
  if (examples.empty()) throw Error(cat(spec.data.where, ": the eval split is empty"));
  return make_prompt_data(examples, prompt, tokenizer, describe(spec.data) + (spec.split == Split::kEval ? " (held out)" : ""));
}

std::vector<train::Sequence> make_sft_sequences(const std::vector<Json>& examples, const PromptSpec& prompt,
                                                const text::Tokenizer& tokenizer, int64_t eos, const std::string& where) {
  std::vector<train::Sequence> out;
  out.reserve(examples.size());
  for (size_t i = 0; i < examples.size(); ++i) {
    const Json& e = examples[i];
    std::string response;
    if (e.contains("response") && e["response"].is_string()) {
      response = e["response"].get<std::string>();
    } else if (e.contains("messages")) {
      for (const auto& m : e["messages"]) {
        if (m.value("role", "") == "assistant") {
          response = m.value("content", "");
          break;
        }
      }
    }
    if (response.empty()) {
      throw Error(cat(where, ": example ", i + 1, " has no response (a \"response\" field or an assistant message)"));
    }
    std::string text = render_prompt(prompt, e, &tokenizer);
    auto p = tokenizer.encode(text, prompt.kind != "chat");
    auto r = tokenizer.encode(response, false);
    train::Sequence s;
    s.prompt.assign(p.begin(), p.end());
    s.completion.assign(r.begin(), r.end());
    s.completion.push_back(eos);
    if (s.prompt.empty()) throw Error(cat(where, ": example ", i + 1, ": the prompt renders to no tokens"));
    out.push_back(std::move(s));
  }
  return out;
}

std::string parse_rules(const JsonReader& stage, const std::string& key, const std::string& fallback) {
  std::string rules = fallback.empty() ? stage.get<std::string>(key) : stage.get_or<std::string>(key, fallback);
  if (rules.empty()) stage.fail(cat(key, ": name the reward rule set that judges correctness"));
  try {
    rewards::RuleSet::load(rules);
  } catch (const Error& e) {
    throw Error(cat(stage.where(key), ": ", e.what()));
  }
  return rules;
}

int64_t response_eos(const model::TransformerImpl& model, const text::Tokenizer& tokenizer) {
  if (!model.config().eos_token_ids.empty()) return model.config().eos_token_ids.front();
  if (auto id = tokenizer.eos_token_id()) return *id;
  throw Error("neither the model's config.json nor the tokenizer names an EOS token; responses need one to end");
}

Json write_stage_outputs(const StageContext& ctx, LoadedModel& m, const Json& eval) {
  on_main_rank(ctx, [&] {
    save_model(*m.model, m.tokenizer_dir, ctx.dir + "/model");
    if (!eval.is_null()) write_file_atomic(ctx.dir + "/eval.json", eval.dump(2) + "\n");
  });
  return eval;
}

}  // namespace zeroth::stages
