set(ZEROTH_cli_SOURCES
  src/cli/main.cpp
  src/cli/cmd_bench.cpp
  src/cli/cmd_tokenize.cpp
  src/cli/bench_tokenizer.cpp
  src/cli/cmd_reward.cpp
  src/cli/bench_reward.cpp
)
