set(ZEROTH_TEST_text_SOURCES
  text/test_tokenizer.cpp
  text/test_chat_template.cpp
  text/test_tokenize_cli.cpp
)
