// `zeroth score --model DIR [--dtype fp32|bf16] < IN.jsonl > OUT.jsonl`: per-token log-probs of given
// completions under the untempered model (natural log), computed in chunks over the vocabulary
// projection. In: {"prompt", "completion"} text (tokenized with the model's tokenizer, no special
// tokens added) or {"prompt_ids", "completion_ids"}. Out: the input plus "completion_ids" and
// "logprobs". Bad lines: "line N: ..." on stderr, the rest go on, exit 1 at the end.
#include <iostream>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "cli/commands.h"
#include "zeroth/core/device.h"
#include "zeroth/core/error.h"
#include "zeroth/core/json.h"
#include "zeroth/core/memory.h"
#include "zeroth/model/checkpoint.h"
#include "zeroth/model/logprobs.h"
#include "zeroth/text/tokenizer.h"

namespace zeroth::cli {
namespace {

struct ScoreArgs {
  std::string model, dtype = "fp32", device = "cpu";
  int64_t batch_size = 8;
};

// An input error that is not one line's: stops the command instead of repeating for every line.
struct StopAll : Error {
  using Error::Error;
};

struct ScoreItem {
  int64_t line = 0;
  Json object;
  std::vector<int64_t> prompt, completion;
};

std::vector<int64_t> read_ids(const JsonReader& r, const std::string& key, int64_t vocab) {
  auto ids = r.get<std::vector<int64_t>>(key);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) r.at(key).fail(cat("token id ", ids[i], " at index ", i, " is outside the vocabulary (", vocab, ")"));
  }
  return ids;
}

// Scores a batch (right-padded) and prints its lines in order.
void score_batch(model::TransformerImpl& m, std::vector<ScoreItem>& batch) {
  if (batch.empty()) return;
  const int64_t B = static_cast<int64_t>(batch.size());
  int64_t T = 0;
  for (const auto& item : batch) T = std::max<int64_t>(T, item.prompt.size() + item.completion.size());
  auto ids = torch::zeros({B, T}, torch::kLong);
  auto mask = torch::zeros({B, T}, torch::kLong);
  auto targets = torch::full({B, T - 1}, -1, torch::kLong);  // position t predicts token t + 1
  for (int64_t b = 0; b < B; ++b) {
    const auto& item = batch[b];
    const int64_t P = item.prompt.size(), C = item.completion.size();
    for (int64_t t = 0; t < P; ++t) ids[b][t] = item.prompt[t];
    for (int64_t t = 0; t < C; ++t) {
      ids[b][P + t] = item.completion[t];
      targets[b][P + t - 1] = item.completion[t];
    }
    mask[b].narrow(0, 0, P + C).fill_(1);
  }
  torch::Tensor logprobs;
  {
    torch::NoGradGuard no_grad;
    auto h = m.hidden_states(ids, mask);  // [B, T, C]
    logprobs = model::token_logprobs(h.narrow(1, 0, T - 1), m.lm_head_weight(), targets).to(torch::kCPU);  // [B, T-1]
    if (!torch::isfinite(logprobs.masked_select(targets.ge(0))).all().item<bool>()) {
      // Never print null log-probs: run the batch again with checks after every layer to name the
      // first module whose output is not finite.
      std::string where = "lm_head (the layers' outputs are finite)";
      m.set_check_finite(true);
      try {
        m.hidden_states(ids, mask);
      } catch (const Error& e) {
        where = e.what();
      }
      m.set_check_finite(false);
      throw StopAll(cat("stdin:", batch.front().line, "-", batch.back().line, ": the model's log-probs are not finite; ",
                        where));
    }
  }
  for (int64_t b = 0; b < B; ++b) {
    auto& item = batch[b];
    const int64_t P = item.prompt.size(), C = item.completion.size();
    std::vector<double> lp;
    for (int64_t t = 0; t < C; ++t) lp.push_back(logprobs[b][P + t - 1].item<float>());
    item.object["completion_ids"] = item.completion;
    item.object["logprobs"] = lp;
    std::cout << item.object.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
  }
  std::cout.flush();
  batch.clear();
}

// score_batch, with an allocation failure turned into an error naming the lines and the flag.
void score_batch_or_explain(model::TransformerImpl& m, std::vector<ScoreItem>& batch) {
  if (batch.empty()) return;
  const std::string lines = cat("stdin:", batch.front().line, "-", batch.back().line);
  try {
    score_batch(m, batch);
  } catch (const std::exception& e) {
    const auto detail = allocation_failure(e);
    if (!detail) throw;
    throw StopAll(cat(lines, ": out of memory scoring ", batch.size(), " lines together", *detail, "; lower --batch-size"));
  }
}

void run_score(const ScoreArgs& a) {
  if (a.batch_size < 1) throw Error("--batch-size must be at least 1");
  auto device = parse_device(a.device);
  auto dtype = parse_dtype(a.dtype);
  auto m = model::load_hf_model(a.model, dtype, device);
  std::optional<text::Tokenizer> tokenizer;
  const int64_t V = m->config().vocab_size;
  std::vector<ScoreItem> batch;
  std::string line;
  int64_t line_number = 0, failed = 0, scored = 0;
  while (std::getline(std::cin, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      const std::string where = cat("stdin:", line_number);
      ScoreItem item;
      item.line = line_number;
      item.object = parse_jsonl_line(line, where);
      JsonReader r(item.object, where);
      if (!r.is_object()) r.fail("expected a JSON object");
      auto encode = [&](const std::string& key) {
        if (!tokenizer) {
          try {
            tokenizer = text::Tokenizer::from_file(a.model);
          } catch (const Error& e) {
            // Not a fault of this line: every text line would fail the same way.
            throw StopAll(cat(where, ": \"", key, "\" is text, which needs the model's tokenizer: ", e.what()));
          }
        }
        std::vector<int64_t> ids;
        for (int32_t id : tokenizer->encode(r.get<std::string>(key))) ids.push_back(id);
        return ids;
      };
      if (r.has("prompt_ids")) {
        item.prompt = read_ids(r, "prompt_ids", V);
      } else if (r.has("prompt")) {
        item.prompt = encode("prompt");
      } else {
        r.fail("expected \"prompt\" (text) or \"prompt_ids\"");
      }
      if (r.has("completion_ids")) {
        item.completion = read_ids(r, "completion_ids", V);
      } else if (r.has("completion")) {
        item.completion = encode("completion");
      } else {
        r.fail("expected \"completion\" (text) or \"completion_ids\"");
      }
      if (item.prompt.empty()) r.fail("the prompt is empty: the first completion token needs a context (add a BOS token)");
      for (int64_t id : item.completion) {
        if (id >= V) r.fail(cat("completion token id ", id, " is outside the model's vocabulary (", V, ")"));
      }
      for (int64_t id : item.prompt) {
        if (id >= V) r.fail(cat("prompt token id ", id, " is outside the model's vocabulary (", V, ")"));
      }
      const int64_t positions = static_cast<int64_t>(item.prompt.size() + item.completion.size());
      if (positions > m->config().max_position_embeddings) {
        r.fail(cat("prompt (", item.prompt.size(), " tokens) + completion (", item.completion.size(), " tokens) = ",
                   positions, " positions, more than the model's max_position_embeddings (",
                   m->config().max_position_embeddings, ")"));
      }
      batch.push_back(std::move(item));
      ++scored;
      if (static_cast<int64_t>(batch.size()) == a.batch_size) score_batch_or_explain(*m, batch);
    } catch (const StopAll&) {
      throw;
    } catch (const Error& e) {
      std::cerr << at_line(cat("stdin:", line_number), e.what()) << "\n";
      ++failed;
    }
  }
  score_batch_or_explain(*m, batch);
  spdlog::info("score: {} lines scored, {} failed", scored, failed);
  if (failed > 0) throw Error(cat(failed, " input line(s) failed; see the messages above"));
}

}  // namespace

void add_score_command(CLI::App& app) {
  auto a = std::make_shared<ScoreArgs>();
  CLI::App* sub = app.add_subcommand("score", "Per-token log-probs of given completions (JSONL in, JSONL out)");
  sub->add_option("--model", a->model, "Model directory (Hugging Face layout)")->required();
  sub->add_option("--dtype", a->dtype, "fp32 | bf16 | fp16")->capture_default_str();
  sub->add_option("--device", a->device, "cpu | cuda[:N] | auto")->capture_default_str();
  sub->add_option("--batch-size", a->batch_size, "Lines scored together (right-padded)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  on_parsed(sub, [a] { run_score(*a); });
}

}  // namespace zeroth::cli
