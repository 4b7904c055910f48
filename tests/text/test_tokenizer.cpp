// Tokenizer tests: the shared reference encodings (from independent implementations), hand-checked
// ids, round-trip properties on random text, streaming decode, and bad files.
#include "support/catch.h"

#include <fstream>
#include <map>
#include <random>

#include "support/paths.h"
#include "text/pipeline.h"
#include "text/unicode.h"
#include "zeroth/core/error.h"
#include "zeroth/core/json.h"
#include "zeroth/text/tokenizer.h"

using namespace zeroth;
using namespace zeroth::text;
using zeroth::testing::tokenizer_dir;
using zeroth::testing::TempDir;

namespace {

// Loading a 10-17 MB tokenizer.json takes a moment: load each once per test run.
const Tokenizer& shared_tokenizer(const std::string& name) {
  static std::map<std::string, Tokenizer> cache;
  auto it = cache.find(name);
  if (it == cache.end()) it = cache.emplace(name, Tokenizer::from_file(tokenizer_dir(name))).first;
  return it->second;
}

std::vector<Json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  std::vector<Json> lines;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(Json::parse(line));
  return lines;
}

void check_reference(const std::string& name) {
  const Tokenizer& tok = shared_tokenizer(name);
  auto lines = read_jsonl(tokenizer_dir(name) + "/reference_sample.jsonl");
  REQUIRE(!lines.empty());
  int line_no = 0;
  for (const Json& line : lines) {
    ++line_no;
    std::string text = line["text"].get<std::string>();
    std::vector<int32_t> expected = line["ids"].get<std::vector<int32_t>>();
    INFO(name << " line " << line_no << ": " << quote(text, 200));
    CHECK(tok.encode(text) == expected);
    CHECK(tok.decode(expected) == line["decoded"].get<std::string>());
  }
}

void check_chat_ids(const std::string& name) {
  const Tokenizer& tok = shared_tokenizer(name);
  int line_no = 0;
  for (const Json& line : read_jsonl(tokenizer_dir(name) + "/chat_template_sample.jsonl")) {
    ++line_no;
    INFO(name << " chat line " << line_no);
    CHECK(tok.encode(line["rendered"].get<std::string>()) == line["ids"].get<std::vector<int32_t>>());
  }
}

}  // namespace

TEST_CASE("qwen3 tokenizer matches every reference line", "[text][tokenizer]") {
  check_reference("qwen3");
  check_chat_ids("qwen3");
}

TEST_CASE("deepseek_v3 tokenizer matches every reference line", "[text][tokenizer]") {
  check_reference("deepseek_v3");
  check_chat_ids("deepseek_v3");
}

TEST_CASE("llama3 tokenizer matches every reference line", "[text][tokenizer]") {
  check_reference("llama3");
  check_chat_ids("llama3");
}

TEST_CASE("the heap merge path gives the reference ids too", "[text][tokenizer]") {
  // A fresh tokenizer (empty merge cache) with every pre-token sent through the heap path.
  Tokenizer tok = Tokenizer::from_file(tokenizer_dir("qwen3"));
  size_t saved = text::detail::bpe_heap_threshold;
  text::detail::bpe_heap_threshold = 0;
  int line_no = 0;
  for (const Json& line : read_jsonl(tokenizer_dir("qwen3") + "/reference_sample.jsonl")) {
    INFO("line " << ++line_no);
    CHECK(tok.encode(line["text"].get<std::string>()) == line["ids"].get<std::vector<int32_t>>());
  }
  text::detail::bpe_heap_threshold = saved;
  // Long pre-tokens (one 200 KB letter run, one 100 KB space run) finish quickly and round-trip.
  std::string letters, spaces(100000, ' ');
  for (int k = 0; k < 20000; ++k) letters += "\xE4\xB8\xAD\xE6\x96\x87" "abcd";  // "中文abcd"
  CHECK(tok.decode(tok.encode(letters)) == letters);
  CHECK(tok.decode(tok.encode(spaces + "x")) == spaces + "x");
}

TEST_CASE("hand-checked ids from the merge lists", "[text][tokenizer]") {
  const Tokenizer& qwen = shared_tokenizer("qwen3");
  CHECK(qwen.encode(" hello") == std::vector<int32_t>{23811});
  CHECK(qwen.encode("Hello world") == std::vector<int32_t>{9707, 1879});
  CHECK(qwen.encode("12345") == std::vector<int32_t>{16, 17, 18, 19, 20});
  CHECK(qwen.encode("<|im_start|>") == std::vector<int32_t>{151644});
  CHECK(qwen.encode("<think>") == std::vector<int32_t>{151667});
  CHECK(qwen.token_to_id("<|im_end|>") == 151645);
  CHECK(qwen.id_to_token(23811) == std::string("\xC4\xA0hello"));  // "Ġhello"
  CHECK(qwen.vocab_size() == 151669);
  CHECK(qwen.eos_token() == std::string("<|im_end|>"));
  CHECK(qwen.eos_token_id() == 151645);
  CHECK(qwen.pad_token_id() == 151643);
  CHECK(!qwen.bos_token());
  CHECK(qwen.is_special(151644));
  CHECK(!qwen.is_special(151667));  // <think> is an added token but not special
  CHECK(qwen.special_token_ids().size() == 14);
  CHECK(qwen.chat_template().has_value());
  // add_special_tokens adds nothing for Qwen (ByteLevel post-processor).
  CHECK(qwen.encode("Hello world", true) == std::vector<int32_t>{9707, 1879});
  CHECK(qwen.decode({151644, 9707}, true) == "Hello");

  const Tokenizer& llama = shared_tokenizer("llama3");
  CHECK(llama.encode("Hello world") == std::vector<int32_t>{9906, 1917});
  CHECK(llama.encode("<|begin_of_text|><|eot_id|>") == std::vector<int32_t>{128000, 128009});
  CHECK(llama.encode("Hello world", true) == std::vector<int32_t>{128000, 9906, 1917});
  auto digits = llama.encode("1234567");
  REQUIRE(digits.size() == 3);
  CHECK(llama.id_to_token(digits[0]) == std::string("123"));
  CHECK(llama.id_to_token(digits[1]) == std::string("456"));
  CHECK(llama.id_to_token(digits[2]) == std::string("7"));
  // ignore_merges: " việc" is one vocabulary entry the merges alone cannot reach.
  auto viec = llama.encode(" vi\xE1\xBB\x87" "c");
  CHECK(viec.size() == 1);
  CHECK(llama.bos_token_id() == 128000);

  const Tokenizer& ds = shared_tokenizer("deepseek_v3");
  auto ds_digits = ds.encode("1234567");
  REQUIRE(ds_digits.size() == 3);
  CHECK(ds.id_to_token(ds_digits[0]) == std::string("123"));
  // LlamaTokenizerFast with add_bos_token: BOS is added as Python transformers does.
  CHECK(ds.encode("Hi", true).front() == 0);
  CHECK(ds.encode("Hi", true).size() == ds.encode("Hi").size() + 1);
}

namespace {

// Random valid UTF-8 drawn from a mix of alphabets: ASCII, whitespace of every kind, digits of
// several scripts, combining marks, CJK, emoji/ZWJ, 4-byte characters, and any scalar value.
std::string random_text(std::mt19937& rng) {
  static const std::vector<uint32_t> pool = {
      ' ', ' ', ' ', '\n', '\r', '\t', 0x0B, 0x0C, 0x85, 0xA0, 0x1680, 0x2000, 0x200B, 0x2028, 0x3000, 0xFEFF,
      'a', 'Z', 'e', 's', '\'', '1', '9', '.', ',', '!', '<', '|', '>', '_', '\\', '{', '}', '$',
      0x0661, 0x0967, 0xFF11, 0x2163, 0x00BD,  // digits and numbers of other scripts
      0x0301, 0x0308, 0x064B,                  // combining marks
      0x4E2D, 0x6587, 0x3042, 0x30A2, 0xAC00,  // CJK, kana, hangul
      0x1F600, 0x200D, 0x1F468, 0x1F3FB, 0x1F1FA, 0x1F1F8, 0x1D400, 0x20000, 0x017F, 0x212A, 0x00E9, 0x0416};
  std::uniform_int_distribution<int> length(0, 40), pick(0, static_cast<int>(pool.size()) - 1), mode(0, 9);
  std::uniform_int_distribution<uint32_t> any(0, 0x10FFFF);
  std::string s;
  int n = length(rng);
  for (int k = 0; k < n; ++k) {
    uint32_t cp = pool[pick(rng)];
    if (mode(rng) == 0) {
      cp = any(rng);
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
    }
    unicode::append_utf8(s, cp);
  }
  return s;
}

}  // namespace

TEST_CASE("decode(encode(s)) == s on random text", "[text][tokenizer][property]") {
  std::mt19937 rng(1234);
  for (const char* name : {"llama3", "deepseek_v3"}) {  // no normalizer changes their text
    const Tokenizer& tok = shared_tokenizer(name);
    for (int k = 0; k < 1500; ++k) {
      std::string s = random_text(rng);
      INFO(name << ": " << quote(s, 200));
      REQUIRE(tok.decode(tok.encode(s)) == s);
    }
  }
  // Qwen3 applies NFC first: the round trip gives the NFC form, and is exact on NFC text.
  const Tokenizer& qwen = shared_tokenizer("qwen3");
  for (int k = 0; k < 1500; ++k) {
    std::string s = random_text(rng);
    std::string once = qwen.decode(qwen.encode(s));
    INFO(quote(s, 200));
    REQUIRE(qwen.decode(qwen.encode(once)) == once);
  }
  CHECK(qwen.decode(qwen.encode("e\xCC\x81")) == "\xC3\xA9");  // e + U+0301 -> é
}

TEST_CASE("special tokens inside text are recognised", "[text][tokenizer]") {
  const Tokenizer& qwen = shared_tokenizer("qwen3");
  auto ids = qwen.encode("a<|im_start|>user\nhi<|im_end|><think>x</think>");
  CHECK(std::count(ids.begin(), ids.end(), 151644) == 1);
  CHECK(std::count(ids.begin(), ids.end(), 151645) == 1);
  CHECK(std::count(ids.begin(), ids.end(), 151667) == 1);
  CHECK(std::count(ids.begin(), ids.end(), 151668) == 1);
  // Near misses stay text.
  for (int32_t id : qwen.encode("<|im_start|<Think><|IM_END|>")) CHECK(id < 151643);
}

TEST_CASE("invalid UTF-8 is an error, never a crash", "[text][tokenizer][property]") {
  const Tokenizer& tok = shared_tokenizer("llama3");
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> byte(0, 255), length(1, 30);
  int errors = 0;
  for (int k = 0; k < 2000; ++k) {
    std::string s;
    int n = length(rng);
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(byte(rng)));
    if (unicode::find_invalid_utf8(s) == std::string::npos) {
      CHECK(tok.decode(tok.encode(s)) == s);
    } else {
      CHECK_THROWS_AS(tok.encode(s), Error);
      ++errors;
    }
  }
  CHECK(errors > 1000);
  CHECK_THROWS_WITH(tok.encode("ok\xC3("), Catch::Contains("byte 2"));
  CHECK_THROWS_WITH(tok.decode({-1}), Catch::Contains("unknown token id -1"));
  CHECK_THROWS_WITH(tok.decode({128256}), Catch::Contains("unknown token id 128256"));
  // Token ids whose bytes do not form UTF-8 decode to U+FFFD.
  auto lone = tok.token_to_id("\xC3\xA4");  // "ä" in the byte table = byte 0xE4, a lone lead byte
  REQUIRE(lone);
  CHECK(tok.decode({*lone}) == "\xEF\xBF\xBD");
}

TEST_CASE("streaming decode emits text only when UTF-8 is complete", "[text][tokenizer]") {
  const Tokenizer& tok = shared_tokenizer("qwen3");
  std::mt19937 rng(7);
  for (int k = 0; k < 300; ++k) {
    std::string s = random_text(rng);
    auto ids = tok.encode(s);
    DecodeStream stream(tok);
    std::string all;
    for (int32_t id : ids) {
      std::string piece = stream.step(id);
      CHECK(unicode::find_invalid_utf8(piece) == std::string::npos);
      all += piece;
    }
    all += stream.flush();
    INFO(quote(s, 200));
    CHECK(all == tok.decode(ids));
  }
  // An emoji is four bytes; Qwen has no token for its full byte sequence, so it arrives in parts.
  auto ids = tok.encode("\xF0\x9F\xA6\x9C");  // U+1F99C
  REQUIRE(ids.size() > 1);
  DecodeStream stream(tok);
  for (size_t k = 0; k + 1 < ids.size(); ++k) CHECK(stream.step(ids[k]).empty());
  CHECK(stream.step(ids.back()) == "\xF0\x9F\xA6\x9C");
}

namespace {

// A tiny hand-written tokenizer.json for the error and component tests.
Json tiny_tokenizer() {
  return Json::parse(R"({
    "version": "1.0", "truncation": null, "padding": null,
    "added_tokens": [{"id": 6, "content": "<s>", "special": true, "single_word": false, "lstrip": false,
                      "rstrip": false, "normalized": false}],
    "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
    "post_processor": null,
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3, "\u0120ab": 4, "c": 5},
              "merges": ["a b", ["\u0120", "ab"]]}
  })");
}

std::string write_tokenizer(const TempDir& dir, const std::string& text) {
  std::ofstream(dir.file("tokenizer.json")) << text;
  return dir.path();
}

}  // namespace

TEST_CASE("a hand-written tokenizer encodes as its merges say", "[text][tokenizer]") {
  TempDir dir;
  Tokenizer tok = Tokenizer::from_file(write_tokenizer(dir, tiny_tokenizer().dump()));
  CHECK(tok.encode("ab ab c") == std::vector<int32_t>{2, 4, 3, 5});
  CHECK(tok.encode("ab<s>ab") == std::vector<int32_t>{2, 6, 2});
  CHECK(tok.decode({2, 4, 3, 5}) == "ab ab c");
  CHECK(tok.decode({2, 6, 2}, true) == "abab");
  CHECK(tok.vocab_size() == 7);
  CHECK(tok.encode("xab") == std::vector<int32_t>{2});  // no unk token: "x" is dropped (as in Rust)
}

TEST_CASE("bad tokenizer files give clear errors", "[text][tokenizer][errors]") {
  TempDir dir;
  auto fails_with = [&](const std::string& text, const std::string& needle) {
    write_tokenizer(dir, text);
    CHECK_THROWS_WITH(Tokenizer::from_file(dir.path()), Catch::Contains(needle));
  };
  std::string good = tiny_tokenizer().dump();
  fails_with(good.substr(0, good.size() / 2), "truncated");
  Json j = tiny_tokenizer();
  j["model"]["merges"].push_back("a zz");
  fails_with(j.dump(), "model.merges[2]: token \"zz\" is not in model.vocab");
  j = tiny_tokenizer();
  j.erase("model");
  fails_with(j.dump(), "model: missing");
  j = tiny_tokenizer();
  j["model"]["type"] = "WordPiece";
  fails_with(j.dump(), "unsupported model type \"WordPiece\"");
  j = tiny_tokenizer();
  j["normalizer"] = Json::parse(R"({"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "BertNormalizer"}]})");
  fails_with(j.dump(), "normalizer.normalizers[1].type: unsupported normalizer type \"BertNormalizer\"");
  j = tiny_tokenizer();
  j["pre_tokenizer"] = Json::parse(R"({"type": "Whitespace"})");
  fails_with(j.dump(), "unsupported pre-tokenizer type \"Whitespace\"");
  j = tiny_tokenizer();
  j["decoder"] = Json::parse(R"({"type": "WordPiece"})");
  fails_with(j.dump(), "unsupported decoder type \"WordPiece\"");
  j = tiny_tokenizer();
  j["post_processor"] = Json::parse(R"({"type": "RobertaProcessing"})");
  fails_with(j.dump(), "unsupported post-processor type \"RobertaProcessing\"");
  j = tiny_tokenizer();
  j["pre_tokenizer"] = Json::parse(R"j({"type": "Split", "pattern": {"Regex": "a(?=b)"}, "behavior": "Isolated"})j");
  fails_with(j.dump(), "not supported by re2");
  CHECK_THROWS_WITH(Tokenizer::from_file(dir.file("missing")), Catch::Contains("missing"));
}
