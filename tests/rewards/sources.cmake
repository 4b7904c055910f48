set(ZEROTH_TEST_rewards_SOURCES
  rewards/test_math_table.cpp
  rewards/test_adversarial.cpp
  rewards/test_verifiers.cpp
  rewards/test_rule_set.cpp
  rewards/test_cli_reward.cpp
)
