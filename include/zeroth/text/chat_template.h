// Chat templates: a Jinja2 interpreter of our own for the `chat_template` of tokenizer_config.json
// (or chat_template.jinja), rendering byte for byte what transformers' apply_chat_template renders:
// jinja2's ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, loop controls,
// transformers' tojson (ensure_ascii=False, indent, separators, sort_keys), raise_exception,
// strftime_now (the local clock) and the {% generation %} tag.
//
//   ChatTemplate tmpl = ChatTemplate::from_tokenizer(tokenizer);
//   std::string prompt = tmpl.render(messages, /*add_generation_prompt=*/true, {{"tools", tools}});
//
// Statements if/elif/else, for (loop.*, loop.cycle, else, if-filters), set (names, namespace
// attributes, tuples, blocks), macro and call/caller, filter blocks, raw, break/continue; jinja2's
// expressions, filters, tests, string/dict/list methods and Python value printing. The full list,
// the known differences from jinja2 and how they are tested against jinja2 itself are in
// docs/chat_templates.md. Anything unsupported, and every error jinja2 would raise, is a
// zeroth::Error naming the template line.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "zeroth/core/json.h"

namespace zeroth::text {

class Tokenizer;

class ChatTemplate {
 public:
  // Parses `source` (errors name `name` and the line). `special_tokens` is an object such as
  // {"bos_token": "<s>", "eos_token": "</s>"}: each becomes a template variable.
  explicit ChatTemplate(const std::string& source, const Json& special_tokens = Json::object(),
                        const std::string& name = "chat_template");
  // The tokenizer's chat_template with its bos/eos/pad/unk tokens; an Error when it has none.
  static ChatTemplate from_tokenizer(const Tokenizer& tokenizer);

  // Renders with the variables messages, add_generation_prompt, tools=None, documents=None, the
  // special tokens, and every key of `extra` (e.g. "tools", "enable_thinking", "date_string").
  std::string render(const Json& messages, bool add_generation_prompt, const Json& extra = Json::object()) const;

  // strftime_now() reads this time (Unix seconds, shown in local time) instead of the clock:
  // for reproducible renderings in tests.
  void fix_clock(int64_t unix_seconds) { fixed_now_ = unix_seconds; }

  struct Program;

 private:
  std::shared_ptr<const Program> program_;
  Json special_tokens_;
  std::string name_;
  std::optional<int64_t> fixed_now_;
};

// A plain prompt template with Python str.format-style fields, for R1-Zero-style prompts:
//   PromptTemplate("A conversation ... User: {question} Assistant: <think>").render({{"question", q}})
// `{{` and `}}` are literal braces. A field missing from the values is an Error naming it;
// string values are inserted as-is, other JSON values as their JSON text.
class PromptTemplate {
 public:
  explicit PromptTemplate(std::string source);
  std::string render(const Json& values) const;
  // The field names, in order of first appearance.
  const std::vector<std::string>& fields() const { return fields_; }

 private:
  std::string source_;
  std::vector<std::string> fields_;
};

}  // namespace zeroth::text
