// `zeroth bench tokenizer`: single-thread encode throughput on GSM8K and MATH-500 text. Prints one
// JSON object: bytes, documents, tokens, cold (first pass, empty merge cache) and warm MB/s.
#include <chrono>
#include <fstream>
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "zeroth/core/error.h"
#include "zeroth/core/json.h"
#include "zeroth/text/tokenizer.h"

namespace zeroth::cli {

namespace {

struct BenchTokenizerOptions {
  // Defaults: the shared data folder beside a checkout, as scripts/bench_tokenizer.sh runs it.
  std::string tokenizer = "../shared/tokenizers/qwen3";
  std::string datasets = "../shared/datasets";
  double min_seconds = 2.0;
};

// The text fields of GSM8K (question, answer) and MATH-500 (problem, solution), one document each.
std::vector<std::string> load_documents(const std::string& dir) {
  std::vector<std::string> docs;
  struct Source {
    const char* file;
    std::vector<const char*> fields;
  };
  for (const Source& src : {Source{"gsm8k/test.jsonl", {"question", "answer"}},
                            Source{"math500/test.jsonl", {"problem", "solution"}}}) {
    std::string path = dir + "/" + src.file;
    std::ifstream in(path);
    if (!in) throw Error(cat("cannot open ", path, " (pass --datasets DIR)"));
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      Json j = parse_jsonl_line(line, cat(path, " line ", ++n));
      for (const char* f : src.fields)
        if (j.contains(f) && j[f].is_string()) docs.push_back(j[f].get<std::string>());
    }
  }
  return docs;
}

void run_bench(const BenchTokenizerOptions& opt) {
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  text::Tokenizer tok = text::Tokenizer::from_file(opt.tokenizer);
  double load_s = std::chrono::duration<double>(clock::now() - t0).count();
  std::vector<std::string> docs = load_documents(opt.datasets);
  size_t bytes = 0;
  for (const auto& d : docs) bytes += d.size();

  auto pass = [&](size_t& tokens) {
    auto start = clock::now();
    tokens = 0;
    for (const auto& d : docs) tokens += tok.encode(d).size();
    return std::chrono::duration<double>(clock::now() - start).count();
  };
  size_t tokens = 0;
  double cold = pass(tokens);
  double warm_total = 0;
  int passes = 0;
  while (warm_total < opt.min_seconds || passes < 2) {
    warm_total += pass(tokens);
    ++passes;
  }
  double warm = warm_total / passes;
  Json out = {{"benchmark", "tokenizer"},
              {"tokenizer", opt.tokenizer},
              {"threads", 1},
              {"documents", docs.size()},
              {"bytes", bytes},
              {"tokens", tokens},
              {"load_seconds", load_s},
              {"cold_seconds", cold},
              {"cold_mb_per_s", bytes / cold / 1e6},
              {"warm_passes", passes},
              {"warm_seconds_per_pass", warm},
              {"mb_per_s", bytes / warm / 1e6},
              {"tokens_per_s", tokens / warm}};
  std::cout << out.dump() << std::endl;
}

}  // namespace

void add_bench_tokenizer_command(CLI::App& bench) {
  auto opt = std::make_shared<BenchTokenizerOptions>();
  CLI::App* sub = bench.add_subcommand("tokenizer", "Tokenizer encode MB/s (one thread) on GSM8K + MATH-500 text");
  sub->add_option("--tokenizer", opt->tokenizer, "Tokenizer directory (default: ../shared/tokenizers/qwen3)");
  sub->add_option("--datasets", opt->datasets, "Folder with gsm8k/test.jsonl and math500/test.jsonl (default: ../shared/datasets)");
  sub->add_option("--min-seconds", opt->min_seconds, "Repeat warm passes for at least this long (default 2)");
  on_parsed(sub, [opt] { run_bench(*opt); });
}

}  // namespace zeroth::cli
