set(ZEROTH_TEST_algo_SOURCES
  algo/test_advantages.cpp
  algo/test_policy_loss.cpp
  algo/test_aggregation.cpp
  algo/test_sft_loss.cpp
)
