// `zeroth bench reward`: verifications per second per core of the math and gsm8k verifiers on
// MATH-500 / GSM8K gold answers turned into R1-style completions (each completion boxes its own
// gold, so "judged_correct" must be ~1.0: a sanity figure, printed beside the speed; the
// "mismatched" run pairs each completion with the next problem's gold, ~0.0), a per-call
// latency histogram, and the batch throughput of RuleSet::score_batch on --threads threads.
// Prints one JSON object on stdout.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"
#include "zeroth/core/json.h"
#include "zeroth/rewards/registry.h"
#include "zeroth/rewards/rule_set.h"

namespace zeroth::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchArgs {
  std::string data_dir = "../shared/datasets";  // the shared data folder beside a checkout
  double seconds = 2.0;
  int threads = 0;
};

struct Case {
  Json example;
  std::string completion;
};

std::vector<Case> load_cases(const std::string& path, bool gsm8k) {
  std::ifstream in(path);
  if (!in) throw Error(cat("cannot open ", path, ": pass --data-dir with math500/test.jsonl and gsm8k/test.jsonl"));
  std::vector<Case> cases;
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    Json row = parse_jsonl_line(line, cat(path, " line ", n));
    std::string answer = row.at("answer").get<std::string>();
    Case c;
    if (gsm8k) {
      std::string gold = answer.substr(answer.rfind("####") + 4);
      c.example = {{"answer", answer}};
      c.completion = "<think>\nLet me add the numbers step by step.\n</think>\n<answer>\nThe total is\n####" + gold + "\n</answer>";
    } else {
      c.example = {{"answer", answer}};
      c.completion = "<think>\nLet me work through this carefully, checking each step.\n</think>\n<answer>\n"
                     "The final answer is $\\boxed{" + answer + "}$.\n</answer>";
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

Json bench_verifier(const std::string& name, const std::vector<Case>& cases, double seconds) {
  Json empty = Json::object();
  std::unique_ptr<rewards::Verifier> v = rewards::verifier_registry().make(name, JsonReader(empty, "bench"));
  std::vector<double> latencies_us;
  size_t correct = 0, calls = 0;
  Clock::time_point start = Clock::now();
  double elapsed = 0;
  while (elapsed < seconds || calls < cases.size()) {
    for (const Case& c : cases) {
      Clock::time_point t0 = Clock::now();
      std::optional<double> s = v->score(rewards::RewardInput(c.completion, c.example));
      Clock::time_point t1 = Clock::now();
      latencies_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      if (calls < cases.size() && s && *s > 0.5) ++correct;
      ++calls;
    }
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  }
  double total_us = 0;
  for (double l : latencies_us) total_us += l;
  std::vector<double> sorted = latencies_us;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double p) { return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size())))]; };
  const double edges[] = {1, 2, 5, 10, 20, 50, 100, 1000};
  Json histogram = Json::object();
  size_t k = 0;
  double lo = 0;
  for (double edge : edges) {
    size_t count = 0;
    while (k < sorted.size() && sorted[k] < edge) { ++count; ++k; }
    histogram[cat(lo, "-", edge, "us")] = count;
    lo = edge;
  }
  histogram[cat(">=", lo, "us")] = sorted.size() - k;
  Json out;
  out["verifier"] = name;
  out["cases"] = cases.size();
  out["calls"] = calls;
  out["judged_correct"] = static_cast<double>(correct) / static_cast<double>(cases.size());
  out["verifications_per_s_per_core"] = static_cast<double>(calls) / (total_us * 1e-6);
  out["wall_s"] = elapsed;
  out["latency_us"] = {{"mean", total_us / static_cast<double>(calls)}, {"p50", pct(0.5)}, {"p90", pct(0.9)},
                       {"p99", pct(0.99)}, {"max", sorted.back()}};
  out["latency_histogram"] = histogram;
  return out;
}

Json bench_batch(const std::vector<Case>& cases, int threads, double seconds) {
  rewards::RuleSet rules = rewards::RuleSet::load("r1_math");
  std::vector<rewards::RewardInput> inputs;
  for (int rep = 0; rep < 8; ++rep)
    for (const Case& c : cases) inputs.emplace_back(c.completion, c.example);
  size_t done = 0;
  Clock::time_point start = Clock::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    rules.score_batch(inputs, threads);
    done += inputs.size();
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  }
  return {{"rules", "r1_math"}, {"threads", threads}, {"batch", inputs.size()},
          {"completions_per_s", static_cast<double>(done) / elapsed}};
}

void run_bench_reward(const BenchArgs& args) {
  std::vector<Case> math = load_cases(args.data_dir + "/math500/test.jsonl", false);
  std::vector<Case> gsm8k = load_cases(args.data_dir + "/gsm8k/test.jsonl", true);
  int threads = args.threads > 0 ? args.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  spdlog::info("bench reward: math500={} gsm8k={} seconds={} threads={}", math.size(), gsm8k.size(), args.seconds, threads);
  Json out;
  out["benchmark"] = "reward";
  out["math500"] = bench_verifier("math", math, args.seconds);
  // The same completions scored against the next problem's gold: strings differ, so every call
  // takes the full parse-and-compare path (the common case early in RL, when most answers are wrong).
  std::vector<Case> shifted = math;
  for (size_t i = 0; i < shifted.size(); ++i) shifted[i].example = math[(i + 1) % math.size()].example;
  out["math500_mismatched"] = bench_verifier("math", shifted, args.seconds);
  out["gsm8k"] = bench_verifier("gsm8k", gsm8k, args.seconds);
  out["batch_r1_math"] = bench_batch(math, threads, args.seconds);
  out["hardware_threads"] = std::thread::hardware_concurrency();
  std::cout << out.dump(2) << std::endl;
}

}  // namespace

void add_bench_reward(CLI::App& bench) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* sub = bench.add_subcommand("reward", "Math/GSM8K verifications per second per core, latency histogram");
  sub->add_option("--data-dir", args->data_dir, "Folder with math500/test.jsonl and gsm8k/test.jsonl (default: ../shared/datasets)");
  sub->add_option("--seconds", args->seconds, "Minimum seconds per measurement");
  sub->add_option("--threads", args->threads, "Threads for the batch measurement (0: all cores)");
  on_parsed(sub, [args] { run_bench_reward(*args); });
}

}  // namespace zeroth::cli
