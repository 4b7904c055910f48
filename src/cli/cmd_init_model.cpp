// `zeroth init-model --config CONFIG.json --tokenizer DIR --out DIR [--seed N] [--dtype D]`:
// a random-init model (HF's normal(0, initializer_range) init) of any supported architecture, saved
// in Hugging Face layout with the tokenizer's files, for tests, benchmarks and the tiny recipe.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "cli/commands.h"
#include "zeroth/core/device.h"
#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"
#include "zeroth/core/json.h"
#include "zeroth/core/output_dir.h"
#include "zeroth/model/checkpoint.h"
#include "zeroth/model/config.h"
#include "zeroth/model/transformer.h"
#include "zeroth/text/tokenizer.h"

namespace zeroth::cli {
namespace {

struct InitModelArgs {
  std::string config, tokenizer, out, dtype;
  uint64_t seed = 0;
  bool force = false;
};

void run_init_model(const InitModelArgs& a) {
  check_output_dir(a.out, "--out", a.force);  // before any work
  require_file(a.config, "--config");
  require_directory(a.tokenizer, "--tokenizer");
  auto cfg = model::parse_model_config(JsonReader::owning(load_json(a.config), a.config));
  auto tokenizer = text::Tokenizer::from_file(a.tokenizer);
  if (tokenizer.vocab_size() > cfg.vocab_size) {
    throw Error(cat(a.config, ": vocab_size (", cfg.vocab_size, ") is smaller than the tokenizer's ",
                    tokenizer.vocab_size(), " ids in ", a.tokenizer, "; raise vocab_size"));
  }
  // Stored dtype: --dtype, else the config's torch_dtype.
  const auto dtype = parse_dtype(a.dtype.empty() ? cfg.torch_dtype : a.dtype);
  torch::manual_seed(a.seed);
  model::Transformer m(cfg);
  model::init_weights(*m);
  model::SaveOptions options;
  options.copy_from = a.tokenizer;
  options.dtype = dtype;
  options.force = a.force;
  options.flag = "--out";
  model::save_hf_model(*m, a.out, options);
  spdlog::info("init-model: {} with {} parameters ({}), seed {}, written to {}", cfg.architecture,
               cfg.num_parameters(), dtype_name(dtype), a.seed, a.out);
}

}  // namespace

void add_init_model_command(CLI::App& app) {
  auto a = std::make_shared<InitModelArgs>();
  CLI::App* sub = app.add_subcommand("init-model", "Random-init a model in Hugging Face layout");
  sub->add_option("--config", a->config, "config.json (Qwen2/Qwen3/Llama ForCausalLM)")->required();
  sub->add_option("--tokenizer", a->tokenizer, "Directory with tokenizer.json (copied to --out)")->required();
  sub->add_option("--out", a->out,
                  "Output model directory: new, empty, or one zeroth wrote (then replaced); see --force")
      ->required();
  sub->add_flag("--force", a->force,
                "Also write into a directory holding other files: only zeroth's files are replaced, nothing else "
                "is touched");
  sub->add_option("--seed", a->seed, "torch::manual_seed before the init")->capture_default_str();
  sub->add_option("--dtype", a->dtype, "Stored dtype fp32 | bf16 | fp16 (default: the config's torch_dtype)");
  on_parsed(sub, [a] { run_init_model(*a); });
}

}  // namespace zeroth::cli
