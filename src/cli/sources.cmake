set(ZEROTH_cli_SOURCES
  src/cli/main.cpp
  src/cli/cmd_bench.cpp
)
