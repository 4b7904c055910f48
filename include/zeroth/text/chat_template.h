// Chat templates: a small Jinja2 interpreter of our own for the `chat_template` of
// tokenizer_config.json, rendering the way transformers' apply_chat_template does (Jinja2 with
// trim_blocks and lstrip_blocks, loop controls, `raise_exception`, a json.dumps-style `tojson`).
//
//   ChatTemplate tmpl = ChatTemplate::from_tokenizer(tokenizer);
//   std::string prompt = tmpl.render(messages, /*add_generation_prompt=*/true);
//
// Covered: {{ }}, {% if/elif/else %}, {% for %} (loop.index/index0/first/last/length/revindex*,
// tuple targets, else), {% set %} (names and namespace attributes), {% break/continue %}, comments,
// whitespace control ({%- -%} {{- -}} {%+), namespace(), range(), raise_exception(); operators
// and/or/not, comparisons, in/not in, + - * / // % ~, ternary `a if c else b`, list/dict literals,
// subscripts and Python slicing; tests defined/undefined/none/string/number/integer/float/boolean/
// true/false/mapping/iterable/sequence/even/odd/eq; filters trim, length/count, tojson(indent),
// default/d, first, last, join, replace, lower, upper, capitalize, title, string, int, float, list,
// reverse, items, abs, safe; string methods startswith, endswith, split, strip, lstrip, rstrip,
// lower, upper, replace, join, title, capitalize; dict methods get, items, keys, values.
// Anything else (macros, call blocks, includes, unknown filters) is a zeroth::Error naming the
// template line. `strftime_now` is left undefined, so date-stamped templates (Llama 3.x) use their
// own fallback date unless "date_string" is passed in `extra`.
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
