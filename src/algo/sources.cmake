set(ZEROTH_algo_SOURCES
  src/algo/advantages.cpp
  src/algo/aggregation.cpp
  src/algo/kl.cpp
  src/algo/policy_loss.cpp
  src/algo/sft_loss.cpp
)
