// `zeroth tokenize --tokenizer DIR [--decode] [--chat] [--add-special-tokens]`: JSONL in, JSONL out.
//   default   {"text": "..."}                                  -> {"ids": [...]}
//   --decode  {"ids": [...]}                                   -> {"text": "..."}
//   --chat    {"messages": [...], "add_generation_prompt": b}  -> {"text": "...", "ids": [...]}
// With --chat, any other keys of the input object (e.g. "tools", "enable_thinking") are passed to
// the template as variables. A bad line is reported as "line N: ..." on stderr; the rest go on and
// the exit code is 1 at the end.
#include <iostream>
#include <optional>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "zeroth/core/error.h"
#include "zeroth/core/json.h"
#include "zeroth/text/chat_template.h"
#include "zeroth/text/tokenizer.h"

namespace zeroth::cli {

namespace {

struct TokenizeOptions {
  std::string tokenizer;
  bool decode = false;
  bool chat = false;
  bool add_special_tokens = false;
  bool skip_special_tokens = false;
};

std::string dump_line(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

void run_tokenize(const TokenizeOptions& opt) {
  if (opt.decode && opt.chat) throw Error("--decode and --chat cannot be combined");
  text::Tokenizer tok = text::Tokenizer::from_file(opt.tokenizer);
  std::optional<text::ChatTemplate> chat;
  if (opt.chat) chat.emplace(text::ChatTemplate::from_tokenizer(tok));
  std::ios::sync_with_stdio(false);
  std::string line;
  size_t line_number = 0, failed = 0;
  while (std::getline(std::cin, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      Json in = parse_jsonl_line(line, cat("line ", line_number));
      if (!in.is_object()) throw Error(cat("expected a JSON object, got ", json_type_name(in)));
      Json out = Json::object();
      if (opt.decode) {
        if (!in.contains("ids") || !in["ids"].is_array()) throw Error("expected an array field \"ids\"");
        std::vector<int32_t> ids;
        for (size_t i = 0; i < in["ids"].size(); ++i) {
          const Json& id = in["ids"][i];
          if (!id.is_number_integer()) throw Error(cat("ids[", i, "]: expected an integer, got ", json_type_name(id)));
          // Range first: a bare get<int32_t> keeps the low 32 bits (4294967368 would decode as "H").
          const bool in_range = id.is_number_unsigned() ? id.get<uint64_t>() < static_cast<uint64_t>(tok.vocab_size())
                                                        : id.get<int64_t>() >= 0 && id.get<int64_t>() < tok.vocab_size();
          if (!in_range) {
            throw Error(cat("ids[", i, "]: token id ", id.dump(), " is outside the vocabulary (0..", tok.vocab_size() - 1, ")"));
          }
          ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
        }
        out["text"] = tok.decode(ids, opt.skip_special_tokens);
      } else if (opt.chat) {
        if (!in.contains("messages") || !in["messages"].is_array()) throw Error("expected an array field \"messages\"");
        bool agp = false;
        if (in.contains("add_generation_prompt")) {
          if (!in["add_generation_prompt"].is_boolean()) throw Error("\"add_generation_prompt\" must be true or false");
          agp = in["add_generation_prompt"].get<bool>();
        }
        Json extra = Json::object();
        for (auto it = in.begin(); it != in.end(); ++it)
          if (it.key() != "messages" && it.key() != "add_generation_prompt") extra[it.key()] = it.value();
        std::string rendered = chat->render(in["messages"], agp, extra);
        out["text"] = rendered;
        out["ids"] = tok.encode(rendered, opt.add_special_tokens);
      } else {
        if (!in.contains("text") || !in["text"].is_string()) throw Error("expected a string field \"text\"");
        out["ids"] = tok.encode(in["text"].get_ref<const std::string&>(), opt.add_special_tokens);
      }
      std::cout << dump_line(out) << '\n';
    } catch (const Error& e) {
      ++failed;
      std::string msg = e.what();
      if (msg.rfind("line ", 0) != 0) msg = cat("line ", line_number, ": ", msg);
      std::cerr << msg << "\n";
    }
  }
  std::cout.flush();
  if (failed > 0) throw Error(cat(failed, " of ", line_number, " input lines failed (see the messages above)"));
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto opt = std::make_shared<TokenizeOptions>();
  CLI::App* sub = app.add_subcommand("tokenize", "Encode, decode or chat-render JSONL with a tokenizer (stdin -> stdout)");
  sub->add_option("--tokenizer", opt->tokenizer, "Directory with tokenizer.json (and tokenizer_config.json), or the file")
      ->required();
  sub->add_flag("--decode", opt->decode, "Input {\"ids\": [...]}, output {\"text\": ...}");
  sub->add_flag("--chat", opt->chat,
                "Input {\"messages\": [...], \"add_generation_prompt\": bool}: render the chat template, output text and ids");
  sub->add_flag("--add-special-tokens", opt->add_special_tokens,
                "Run the post-processor (e.g. Llama 3 adds <|begin_of_text|>); off by default");
  sub->add_flag("--skip-special-tokens", opt->skip_special_tokens, "With --decode: drop special tokens");
  on_parsed(sub, [opt] { run_tokenize(*opt); });
}

}  // namespace zeroth::cli
