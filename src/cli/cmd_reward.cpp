// `zeroth reward --rules NAME|FILE < in.jsonl > out.jsonl`: scores completions with a reward rule
// set. In: {"completion": "...", "answer": <gold>, ...}; out: the same object plus
// "rewards": {"<component>": value|null} and "reward": total (docs/architecture.md contract).
// Lines are scored in chunks on a thread pool; output keeps input order. A bad line is reported
// as "line N: ..." on stderr, the rest go on, and the exit code is 1 at the end.
#include <iostream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "zeroth/core/error.h"
#include "zeroth/core/json.h"
#include "zeroth/rewards/rule_set.h"

namespace zeroth::cli {
namespace {

struct RewardArgs {
  std::string rules;
  int threads = 0;
};

struct PendingLine {
  size_t number = 0;
  Json example;
  std::string completion;
};

void flush(const rewards::RuleSet& rules, std::vector<PendingLine>& pending, int threads) {
  std::vector<rewards::RewardInput> inputs;
  inputs.reserve(pending.size());
  for (const PendingLine& p : pending) inputs.emplace_back(p.completion, p.example);
  std::vector<rewards::RewardResult> results = rules.score_batch(inputs, threads);
  for (size_t i = 0; i < pending.size(); ++i) {
    Json out = std::move(pending[i].example);
    out["rewards"] = rewards::RuleSet::components_json(results[i]);
    out["reward"] = results[i].total;
    std::cout << out.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
  }
  pending.clear();
}

int run_reward(const RewardArgs& args) {
  rewards::RuleSet rules = rewards::RuleSet::load(args.rules);
  spdlog::info("reward: rules={} components={}", rules.name(), rules.components().size());
  std::ios::sync_with_stdio(false);
  std::vector<PendingLine> pending;
  std::string line;
  size_t line_number = 0, failed = 0, scored = 0;
  while (std::getline(std::cin, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      PendingLine p;
      p.number = line_number;
      p.example = parse_jsonl_line(line, cat("line ", line_number));
      if (!p.example.is_object()) throw Error(cat("line ", line_number, ": expected a JSON object, got ", json_type_name(p.example)));
      if (!p.example.contains("completion") || !p.example["completion"].is_string())
        throw Error(cat("line ", line_number, ": expected a string field \"completion\""));
      p.completion = p.example["completion"].get<std::string>();
      pending.push_back(std::move(p));
    } catch (const Error& e) {
      std::string msg = e.what();
      if (msg.rfind("line ", 0) != 0) msg = cat("line ", line_number, ": ", msg);
      std::cerr << msg << "\n";
      ++failed;
      continue;
    }
    if (pending.size() >= 4096) {
      scored += pending.size();
      flush(rules, pending, args.threads);
    }
  }
  scored += pending.size();
  flush(rules, pending, args.threads);
  std::cout.flush();
  spdlog::info("reward: scored={} failed={}", scored, failed);
  if (failed > 0) throw Error(cat(failed, " of ", line_number, " input lines failed (see the messages above)"));
  return 0;
}

}  // namespace

void add_reward_command(CLI::App& app) {
  auto args = std::make_shared<RewardArgs>();
  CLI::App* sub = app.add_subcommand("reward", "Score completions with a reward rule set (JSONL in/out)");
  sub->add_option("--rules", args->rules, "A shipped rule set (r1_math, gsm8k, countdown, r1_format) or a .json file")
      ->required();
  sub->add_option("--threads", args->threads, "Scoring threads (0: all cores)")->check(CLI::NonNegativeNumber);
  on_parsed(sub, [args] {
    run_reward(*args);
  });
}

}  // namespace zeroth::cli
