// The stages of a tokenizer.json pipeline other than the model: normalizers, pre-tokenizers,
// post-processors and decoders. Each is built from its JSON object; an unknown `type` is an Error
// naming it. Internal to src/text (the public API is zeroth/text/tokenizer.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace zeroth::text::detail {

using RawJson = nlohmann::json;

// Pre-tokens with more symbols than this merge through a heap (O(n log n)) instead of the simple
// quadratic scan; both give the same result (tests set it to 0 to check the heap path).
extern size_t bpe_heap_threshold;

// ---- normalizers ---------------------------------------------------------------------------
class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};
// `where` is the JSON path used in error messages ("normalizer", "normalizer.normalizers[1]").
std::unique_ptr<Normalizer> make_normalizer(const RawJson& json, const std::string& where);

// ---- pre-tokenizers ------------------------------------------------------------------------
struct Span {
  uint32_t begin, end;
};

// A segment of text cut into pieces (spans over `text`, in order, non-empty). `byte_level` is set
// by the ByteLevel pre-tokenizer: the model then sees each piece's bytes through GPT-2's table.
struct PreTokenized {
  std::string text;
  std::vector<Span> spans;
  bool byte_level = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // `first` is true for the first text segment of the input (Metaspace's prepend_scheme "first").
  virtual void pre_tokenize(PreTokenized& pt, bool first) const = 0;
};
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const RawJson& json, const std::string& where);

// Finds the non-overlapping matches of a Split pattern inside one piece (offsets relative to it).
class Matcher {
 public:
  virtual ~Matcher() = default;
  virtual void find(std::string_view piece, std::vector<Span>& matches) const = 0;
};
// Hand-written matchers for the split regexes of Qwen2/3, Llama 3 (cl100k), DeepSeek-V3 and GPT-2
// (which need Unicode classes and `\s+(?!\S)`); re2 for any other regex. Returns null for a regex
// re2 cannot compile, with the reason in `error`.
std::unique_ptr<Matcher> make_regex_matcher(const std::string& pattern, std::string& error);

// ---- post-processors -----------------------------------------------------------------------
class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Adds the special tokens around one encoded sequence (only called with add_special_tokens).
  virtual void process(std::vector<int32_t>& ids) const = 0;
};
std::unique_ptr<PostProcessor> make_post_processor(const RawJson& json, const std::string& where);
// "bos $A eos" as transformers' LlamaTokenizerFast builds it from tokenizer_config.json.
std::unique_ptr<PostProcessor> make_bos_eos_processor(int32_t bos, int32_t eos);

// ---- decoders ------------------------------------------------------------------------------
class Decoder {
 public:
  virtual ~Decoder() = default;
  // Rewrites the token strings in place (a decoder may merge them into fewer strings).
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};
std::unique_ptr<Decoder> make_decoder(const RawJson& json, const std::string& where);

}  // namespace zeroth::text::detail
