set(ZEROTH_text_SOURCES
  src/text/unicode.cpp
  src/text/pipeline.cpp
  src/text/tokenizer.cpp
  src/text/chat_template.cpp
)
