// zeroth_algo_probe: drives zeroth's GRPO algo functions from data, so that scripts/parity_trl.py
// can feed the same numbers to zeroth and to TRL's GRPOTrainer. Not a user command (test helper).
// stdin: one JSON object per line (float64 throughout):
//   {"rewards": [N*G], "group_size": G, "advantage": {AdvantageOptions}, "loss": {LossOptions},
//    "logprobs_new": [[B x T]], "logprobs_old"?, "logprobs_ref"?, "logprobs_sampler"?, "mask": [[B x T]],
//    "constant_length"?: L}
// stdout: one line per case: {"advantages": [N*G], "loss": x, "grad": [[B x T]] (d loss / d logprobs_new),
//   "clip_frac_low", "clip_frac_high", "kl_mean"}; or {"error": "..."} for a bad case.
// The loss is computed on the advantages it just computed (B = N*G rows).
#include <iostream>
#include <string>

#include <torch/torch.h>

#include "zeroth/algo/advantages.h"
#include "zeroth/algo/aggregation.h"
#include "zeroth/algo/policy_loss.h"
#include "zeroth/core/error.h"
#include "zeroth/core/json.h"

using namespace zeroth;

namespace {

torch::Tensor matrix(const JsonReader& r, const std::string& key) {
  if (!r.has(key)) return {};
  auto rows = r.get<std::vector<std::vector<double>>>(key);
  auto t = torch::empty({static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows.empty() ? 0 : rows[0].size())},
                        torch::kDouble);
  for (size_t i = 0; i < rows.size(); ++i) {
    ZEROTH_CHECK(static_cast<int64_t>(rows[i].size()) == t.size(1), key + ": ragged rows");
    for (size_t j = 0; j < rows[i].size(); ++j) t[i][j] = rows[i][j];
  }
  return t;
}

Json tensor_json(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kDouble).contiguous();
  if (c.dim() == 1) return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  Json rows = Json::array();
  for (int64_t i = 0; i < c.size(0); ++i) rows.push_back(tensor_json(c[i]));
  return rows;
}

Json run_case(const JsonReader& r) {
  auto rewards = torch::tensor(r.get<std::vector<double>>("rewards"), torch::kDouble);
  const auto group_size = r.get<int64_t>("group_size");
  auto adv_options = algo::AdvantageOptions::from_json(r.at("advantage"));
  auto loss_options = algo::LossOptions::from_json(r.at("loss"));
  auto adv = algo::compute_advantages(rewards, group_size, adv_options);

  algo::PolicyLossInputs in;
  in.logprobs_new = matrix(r, "logprobs_new").requires_grad_(true);
  in.logprobs_old = matrix(r, "logprobs_old");
  in.logprobs_ref = matrix(r, "logprobs_ref");
  in.logprobs_sampler = matrix(r, "logprobs_sampler");
  in.mask = matrix(r, "mask");
  in.advantages = adv.advantages;
  auto norm = algo::make_loss_normalizer(in.mask, r.get_or<double>("constant_length", 0.0));
  auto out = algo::policy_loss(in, loss_options, norm);
  out.loss.backward();
  return Json{{"advantages", tensor_json(adv.advantages)},
              {"loss", out.loss.item<double>()},
              {"grad", tensor_json(in.logprobs_new.grad())},
              {"clip_frac_low", out.stats.clip_frac_low()},
              {"clip_frac_high", out.stats.clip_frac_high()},
              {"kl_mean", out.stats.kl_mean()}};
}

}  // namespace

int main() {
  std::string line;
  int64_t number = 0, failed = 0;
  while (std::getline(std::cin, line)) {
    ++number;
    try {
      Json object = parse_jsonl_line(line, "stdin:" + std::to_string(number));
      std::cout << run_case(JsonReader(object, "stdin:" + std::to_string(number))).dump() << "\n";
    } catch (const std::exception& e) {
      ++failed;
      std::cout << Json{{"error", e.what()}}.dump() << "\n";
    }
  }
  return failed ? 1 : 0;
}
