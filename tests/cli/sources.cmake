set(ZEROTH_TEST_cli_SOURCES
  cli/test_main.cpp
)
