// Tokenizer: exact Hugging Face `tokenizer.json` compatibility for byte-level BPE models
// (Qwen2/2.5/3, DeepSeek-V3/R1, Llama 3) and other BPE pipelines built from the supported parts.
//
//   Tokenizer tok = Tokenizer::from_file("models/qwen3");      // a directory or a tokenizer.json
//   std::vector<int32_t> ids = tok.encode("Hello world");       // [9707, 1879]
//   std::string text = tok.decode(ids);                         // "Hello world"
//
// Pipeline (as in the Rust `tokenizers` library): added tokens are split out first (leftmost-
// longest), the rest is normalized, pre-tokenized and run through the BPE model; with
// add_special_tokens the post-processor adds BOS/EOS. Supported components:
//   normalizers     NFC, NFD, NFKC, NFKD, Lowercase, Replace, Prepend, Strip, Sequence
//   pre-tokenizers  Split (String or Regex; the Qwen / Llama 3 / DeepSeek-V3 / GPT-2 regexes are
//                   hand-written, others go to re2), ByteLevel, Digits, Metaspace, Sequence
//   model           BPE (byte_fallback, ignore_merges, unk_token, merges as "a b" or ["a","b"])
//   post-processors TemplateProcessing (single sequence), ByteLevel, Sequence
//   decoders        ByteLevel, ByteFallback, Metaspace, Fuse, Strip, Replace, Sequence
// Anything else is a zeroth::Error naming the component type and its JSON path.
//
// Special tokens with add_special_tokens=true: the tokenizer.json post-processor decides (Llama 3:
// BOS), except for tokenizer_config.json "tokenizer_class" LlamaTokenizer(Fast), where transformers
// rebuilds it from "add_bos_token" (default true) / "add_eos_token" (default false): DeepSeek-V3 then
// gets a BOS as in Python transformers.
//
// A Tokenizer is cheap to copy (shared immutable state) and encode/decode are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zeroth::text {

// An entry of tokenizer.json "added_tokens".
struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;      // skipped by decode(skip_special_tokens=true)
  bool single_word = false;  // only matches when not inside a word
  bool lstrip = false;       // swallows whitespace on its left
  bool rstrip = false;       // swallows whitespace on its right
  bool normalized = false;   // matched in the normalized text rather than the raw text
};

class Tokenizer {
 public:
  // Loads `path`: a directory holding tokenizer.json (and optionally tokenizer_config.json), or a
  // tokenizer.json file (tokenizer_config.json is then looked for beside it). Throws zeroth::Error
  // naming the file and JSON path for anything malformed or unsupported.
  static Tokenizer from_file(const std::string& path);

  // Text -> ids. Added tokens written in the text (e.g. "<|im_start|>") are recognised whether or
  // not add_special_tokens is set; add_special_tokens only runs the post-processor (BOS/EOS).
  // Invalid UTF-8 is an Error naming the byte offset.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = false) const;

  // Ids -> text, through the decoder. Unknown ids are an Error. Bytes that do not form valid UTF-8
  // become U+FFFD. skip_special_tokens drops added tokens marked special.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;
  std::string decode(const int32_t* ids, size_t n, bool skip_special_tokens = false) const;

  // Number of ids: the largest id (vocabulary or added token) + 1.
  int32_t vocab_size() const;
  std::optional<int32_t> token_to_id(std::string_view token) const;  // vocab or added token
  std::optional<std::string> id_to_token(int32_t id) const;          // the raw token string
  bool is_special(int32_t id) const;                                 // an added token marked special
  const std::vector<int32_t>& special_token_ids() const;             // sorted
  const std::vector<AddedToken>& added_tokens() const;

  // From tokenizer_config.json (strings, or objects with "content"); nullopt when unset or null.
  const std::optional<std::string>& bos_token() const;
  const std::optional<std::string>& eos_token() const;
  const std::optional<std::string>& pad_token() const;
  const std::optional<std::string>& unk_token() const;
  std::optional<int32_t> bos_token_id() const;
  std::optional<int32_t> eos_token_id() const;
  std::optional<int32_t> pad_token_id() const;
  // The Jinja "chat_template" of tokenizer_config.json (the "default" one when it is a list).
  const std::optional<std::string>& chat_template() const;

  // The files a model directory should carry to reproduce this tokenizer (tokenizer.json,
  // tokenizer_config.json, special_tokens_map.json where present), as absolute paths.
  const std::vector<std::string>& source_files() const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Incremental decoding for generation: feed ids one at a time and get the text they complete.
// Text is emitted only once its UTF-8 is complete (a character split over several byte tokens
// comes out with the last of them), and the concatenation of everything step() and flush()
// return equals tokenizer.decode(all ids).
class DecodeStream {
 public:
  explicit DecodeStream(Tokenizer tokenizer, bool skip_special_tokens = false);
  // The new text completed by `id` (often empty).
  std::string step(int32_t id);
  // Whatever is still held back (incomplete UTF-8 comes out as U+FFFD); resets the stream.
  std::string flush();

 private:
  Tokenizer tokenizer_;
  bool skip_special_tokens_;
  std::vector<int32_t> ids_;
  std::string prefix_;
  size_t prefix_index_ = 0;
};

}  // namespace zeroth::text
