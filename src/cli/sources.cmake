set(ZEROTH_cli_SOURCES
  src/cli/main.cpp
)
