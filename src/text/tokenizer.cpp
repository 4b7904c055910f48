// Loading tokenizer.json / tokenizer_config.json, added-token splitting, the BPE model, encode and
// decode. The other pipeline stages are in pipeline.cpp.
#include "zeroth/text/tokenizer.h"

#include <algorithm>
#include <array>
#include <climits>
#include <filesystem>
#include <mutex>
#include <queue>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "text/pipeline.h"
#include "text/unicode.h"
#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"

namespace zeroth::text {

using detail::RawJson;

size_t detail::bpe_heap_threshold = 48;

namespace {

// Leftmost-longest matching of the added tokens (as the Rust library's aho-corasick automaton with
// MatchKind::LeftmostLongest): a byte trie walked from each position.
class TokenTrie {
 public:
  TokenTrie() { root_.fill(-1); }
  void add(const std::string& key, int value) {
    if (key.empty()) return;
    int node = root_[static_cast<unsigned char>(key[0])];
    if (node < 0) {
      node = new_node();
      root_[static_cast<unsigned char>(key[0])] = node;
    }
    for (size_t k = 1; k < key.size(); ++k) {
      unsigned char b = static_cast<unsigned char>(key[k]);
      int next = child(node, b);
      if (next < 0) {
        next = new_node();
        nodes_[node].edges.push_back({b, next});
      }
      node = next;
    }
    nodes_[node].value = value;
    empty_ = false;
  }
  bool empty() const { return empty_; }
  // The longest key starting at text[i]: sets `end` and returns its value, or -1.
  int longest_at(std::string_view text, size_t i, size_t& end) const {
    int node = root_[static_cast<unsigned char>(text[i])];
    int best = -1;
    size_t j = i + 1;
    while (node >= 0) {
      if (nodes_[node].value >= 0) {
        best = nodes_[node].value;
        end = j;
      }
      if (j >= text.size()) break;
      node = child(node, static_cast<unsigned char>(text[j]));
      ++j;
    }
    return best;
  }
  bool may_start(unsigned char b) const { return root_[b] >= 0; }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int>> edges;
    int value = -1;
  };
  int new_node() {
    nodes_.emplace_back();
    return static_cast<int>(nodes_.size() - 1);
  }
  int child(int node, unsigned char b) const {
    for (const auto& e : nodes_[node].edges)
      if (e.first == b) return e.second;
    return -1;
  }
  std::array<int, 256> root_;
  std::vector<Node> nodes_;
  bool empty_ = true;
};

struct Segment {
  int32_t token;  // added-token index, or -1 for text
  uint32_t begin, end;
};

bool is_word_char(uint32_t cp) {
  return cp == '_' || (unicode::char_class(cp) & (unicode::kLetter | unicode::kNumber)) != 0;
}

uint32_t last_char(std::string_view s, size_t end) {
  size_t b = end - 1;
  while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
  int len;
  return unicode::decode_utf8(s, b, len);
}

struct MergeInfo {
  int32_t rank;
  int32_t id;
};

inline uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

std::optional<std::string> special_token_from_config(const RawJson& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"].get<std::string>();
  throw Error(cat(key, ": expected a string or an object with \"content\", got ", it->type_name()));
}

}  // namespace

struct Tokenizer::Impl {
  // Model (BPE)
  std::unordered_map<std::string, int32_t> vocab;
  std::unordered_map<uint64_t, MergeInfo> merges;
  std::unordered_map<uint32_t, int32_t> char_ids;  // single-character tokens by code point
  std::array<int32_t, 256> byte_fallback_ids;      // "<0xXX>" tokens, -1 when absent
  bool byte_fallback = false;
  bool ignore_merges = false;
  bool fuse_unk = false;
  int32_t unk_id = -1;

  // All ids: token strings (vocab and added), and flags.
  std::vector<std::string> id_to_token;
  std::vector<uint8_t> id_known;
  std::vector<uint8_t> id_special;
  std::vector<int32_t> special_ids;

  std::vector<AddedToken> added;
  std::unordered_map<std::string, int32_t> added_by_content;
  TokenTrie raw_trie;         // added tokens with normalized=false, matched on the raw text
  TokenTrie normalized_trie;  // normalized=true, matched on the normalized text

  std::unique_ptr<detail::Normalizer> normalizer;
  std::unique_ptr<detail::PreTokenizer> pre_tokenizer;
  std::unique_ptr<detail::PostProcessor> post_processor;
  std::unique_ptr<detail::Decoder> decoder;

  std::optional<std::string> bos, eos, pad, unk;
  std::optional<std::string> chat_template;
  std::vector<std::string> files;

  // Merge cache: pre-token (in the model's alphabet) -> ids. Guarded by cache_mutex; an encode that
  // finds it locked by another thread runs without it.
  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;
  static constexpr size_t kCacheCapacity = 1 << 18;

  void load_model(const RawJson& model);
  void split_added(std::string_view text, const TokenTrie& trie, std::vector<Segment>& out) const;
  void encode_text(std::string& text, bool first, std::vector<int32_t>& ids,
                   std::unordered_map<std::string, std::vector<int32_t>>* cache_ptr) const;
  void bpe(const std::string& word, std::vector<int32_t>& ids) const;
  void merge_long(std::vector<int32_t>& syms) const;
  std::optional<int32_t> find(std::string_view token) const {
    auto a = added_by_content.find(std::string(token));
    if (a != added_by_content.end()) return a->second;
    auto v = vocab.find(std::string(token));
    if (v != vocab.end()) return v->second;
    return std::nullopt;
  }
};

void Tokenizer::Impl::load_model(const RawJson& model) {
  if (!model.is_object()) throw Error("model: missing or not an object (expected the BPE model with vocab and merges)");
  std::string type = model.contains("type") && model["type"].is_string() ? model["type"].get<std::string>() : "BPE";
  if (type != "BPE")
    throw Error(cat("model.type: unsupported model type ", quote(type), " (zeroth supports: BPE)"));
  auto vit = model.find("vocab");
  if (vit == model.end() || !vit->is_object()) throw Error("model.vocab: missing (expected an object token -> id)");
  vocab.reserve(vit->size() * 2);
  int32_t max_id = -1;
  for (auto it = vit->begin(); it != vit->end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() > INT32_MAX)
      throw Error(cat("model.vocab[", quote(it.key()), "]: expected a non-negative integer id"));
    int32_t id = it.value().get<int32_t>();
    vocab.emplace(it.key(), id);
    max_id = std::max(max_id, id);
  }
  id_to_token.assign(max_id + 1, std::string());
  id_known.assign(max_id + 1, 0);
  for (const auto& [token, id] : vocab) {
    id_to_token[id] = token;
    id_known[id] = 1;
    int len;
    if (!token.empty()) {
      uint32_t cp = unicode::decode_utf8(token, 0, len);
      if (static_cast<size_t>(len) == token.size()) char_ids[cp] = id;
    }
  }

  auto str_or_empty = [&](const char* key) {
    auto it = model.find(key);
    return it == model.end() || it->is_null() ? std::string() : it->get<std::string>();
  };
  if (!str_or_empty("continuing_subword_prefix").empty() || !str_or_empty("end_of_word_suffix").empty())
    throw Error("model: continuing_subword_prefix / end_of_word_suffix are not supported by zeroth's BPE");
  if (model.contains("dropout") && !model["dropout"].is_null() && model["dropout"].get<double>() != 0.0)
    throw Error("model.dropout: BPE dropout is not supported (set it to null for inference)");
  byte_fallback = model.value("byte_fallback", false);
  ignore_merges = model.value("ignore_merges", false);
  fuse_unk = model.value("fuse_unk", false);
  std::string unk_token = str_or_empty("unk_token");
  if (!unk_token.empty()) {
    auto it = vocab.find(unk_token);
    if (it == vocab.end()) throw Error(cat("model.unk_token: ", quote(unk_token), " is not in model.vocab"));
    unk_id = it->second;
  }
  byte_fallback_ids.fill(-1);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    auto it = vocab.find(name);
    if (it != vocab.end()) byte_fallback_ids[b] = it->second;
  }

  auto mit = model.find("merges");
  if (mit == model.end() || !mit->is_array()) throw Error("model.merges: missing (expected a list of merges)");
  merges.reserve(mit->size() * 2);
  int32_t rank = 0;
  std::string a, b;
  for (const RawJson& m : *mit) {
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
        throw Error(cat("model.merges[", rank, "]: expected \"left right\" (two tokens separated by one space), got ", quote(s)));
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      throw Error(cat("model.merges[", rank, "]: expected \"left right\" or [\"left\", \"right\"]"));
    }
    auto ia = vocab.find(a), ib = vocab.find(b), iab = vocab.find(a + b);
    if (ia == vocab.end() || ib == vocab.end() || iab == vocab.end()) {
      const std::string& missing = ia == vocab.end() ? a : ib == vocab.end() ? b : a + b;
      throw Error(cat("model.merges[", rank, "]: token ", quote(missing), " is not in model.vocab"));
    }
    merges.emplace(pair_key(ia->second, ib->second), MergeInfo{rank, iab->second});
    ++rank;
  }
}

void Tokenizer::Impl::split_added(std::string_view text, const TokenTrie& trie, std::vector<Segment>& out) const {
  size_t start_offset = 0, i = 0;
  while (i < text.size()) {
    if (!trie.may_start(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    size_t stop = 0;
    int index = trie.longest_at(text, i, stop);
    if (index < 0) {
      ++i;
      continue;
    }
    const AddedToken& tok = added[index];
    size_t start = i;
    if (tok.single_word) {
      bool word_before = start > 0 && is_word_char(last_char(text, start));
      int len;
      bool word_after = stop < text.size() && is_word_char(unicode::decode_utf8(text, stop, len));
      if (word_before || word_after) {
        ++i;
        continue;
      }
    }
    if (tok.lstrip) {
      while (start > start_offset) {
        size_t b = start - 1;
        while (b > start_offset && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
        int len;
        if (!(unicode::char_class(unicode::decode_utf8(text, b, len)) & unicode::kSpace)) break;
        start = b;
      }
    }
    if (tok.rstrip) {
      while (stop < text.size()) {
        int len;
        if (!(unicode::char_class(unicode::decode_utf8(text, stop, len)) & unicode::kSpace)) break;
        stop += len;
      }
    }
    if (start > start_offset) out.push_back({-1, static_cast<uint32_t>(start_offset), static_cast<uint32_t>(start)});
    out.push_back({index, static_cast<uint32_t>(start), static_cast<uint32_t>(stop)});
    start_offset = stop;
    i = stop;
  }
  if (start_offset < text.size())
    out.push_back({-1, static_cast<uint32_t>(start_offset), static_cast<uint32_t>(text.size())});
}

// Byte-pair merging of one pre-token: start from its characters, then repeatedly apply the merge
// of lowest rank (leftmost on ties) until none applies.
void Tokenizer::Impl::bpe(const std::string& word, std::vector<int32_t>& ids) const {
  if (ignore_merges) {
    auto it = vocab.find(word);
    if (it != vocab.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  thread_local std::vector<int32_t> syms;
  thread_local std::vector<int32_t> ranks;
  syms.clear();
  size_t i = 0;
  while (i < word.size()) {
    int len;
    uint32_t cp = unicode::decode_utf8(word, i, len);
    auto it = char_ids.find(cp);
    if (it != char_ids.end()) {
      syms.push_back(it->second);
    } else if (byte_fallback && std::all_of(word.begin() + i, word.begin() + i + len,
                                            [&](char c) { return byte_fallback_ids[static_cast<unsigned char>(c)] >= 0; })) {
      for (int k = 0; k < len; ++k) syms.push_back(byte_fallback_ids[static_cast<unsigned char>(word[i + k])]);
    } else if (unk_id >= 0) {
      if (!(fuse_unk && !syms.empty() && syms.back() == unk_id)) syms.push_back(unk_id);
    }  // no unk token: the character is dropped, as in the Rust library
    i += len;
  }
  if (syms.size() > detail::bpe_heap_threshold) {
    merge_long(syms);
    ids.insert(ids.end(), syms.begin(), syms.end());
    return;
  }
  auto rank_of = [&](size_t k) {
    auto it = merges.find(pair_key(syms[k], syms[k + 1]));
    return it == merges.end() ? INT32_MAX : it->second.rank;
  };
  ranks.clear();
  for (size_t k = 0; k + 1 < syms.size(); ++k) ranks.push_back(rank_of(k));
  while (syms.size() > 1) {
    size_t best = 0;
    for (size_t k = 1; k < ranks.size(); ++k)
      if (ranks[k] < ranks[best]) best = k;
    if (ranks[best] == INT32_MAX) break;
    syms[best] = merges.find(pair_key(syms[best], syms[best + 1]))->second.id;
    syms.erase(syms.begin() + best + 1);
    ranks.erase(ranks.begin() + best);
    if (best + 1 < syms.size()) ranks[best] = rank_of(best);
    if (best > 0) ranks[best - 1] = rank_of(best - 1);
  }
  ids.insert(ids.end(), syms.begin(), syms.end());
}

void Tokenizer::Impl::encode_text(std::string& text, bool first, std::vector<int32_t>& ids,
                                  std::unordered_map<std::string, std::vector<int32_t>>* cache_ptr) const {
  thread_local detail::PreTokenized pt;
  thread_local std::string word;
  pt.text.swap(text);
  pt.spans.assign(1, {0, static_cast<uint32_t>(pt.text.size())});
  pt.byte_level = false;
  if (pre_tokenizer) pre_tokenizer->pre_tokenize(pt, first);
  for (const detail::Span& sp : pt.spans) {
    word.clear();
    if (pt.byte_level) {
      for (uint32_t k = sp.begin; k < sp.end; ++k) word += unicode::byte_to_char(static_cast<unsigned char>(pt.text[k]));
    } else {
      word.assign(pt.text, sp.begin, sp.end - sp.begin);
    }
    if (cache_ptr) {
      auto it = cache_ptr->find(word);
      if (it != cache_ptr->end()) {
        ids.insert(ids.end(), it->second.begin(), it->second.end());
        continue;
      }
    }
    size_t before = ids.size();
    bpe(word, ids);
    if (cache_ptr && word.size() <= 256) {
      if (cache_ptr->size() >= kCacheCapacity) cache_ptr->clear();
      cache_ptr->emplace(word, std::vector<int32_t>(ids.begin() + before, ids.end()));
    }
  }
  text.swap(pt.text);
}

// The same merge order for long pre-tokens in O(n log n): a heap of candidate pairs ordered by
// (rank, position), over a linked list of symbols; stale entries are skipped when popped.
void Tokenizer::Impl::merge_long(std::vector<int32_t>& syms) const {
  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t left, right;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  const int32_t n = static_cast<int32_t>(syms.size());
  std::vector<int32_t> prev(n), next(n);
  for (int32_t k = 0; k < n; ++k) {
    prev[k] = k - 1;
    next[k] = k + 1 < n ? k + 1 : -1;
  }
  std::vector<uint8_t> alive(n, 1);
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto push = [&](int32_t pos) {
    if (pos < 0 || next[pos] < 0) return;
    auto it = merges.find(pair_key(syms[pos], syms[next[pos]]));
    if (it != merges.end()) heap.push({it->second.rank, pos, syms[pos], syms[next[pos]]});
  };
  for (int32_t k = 0; k + 1 < n; ++k) push(k);
  while (!heap.empty()) {
    Candidate c = heap.top();
    heap.pop();
    int32_t right = next[c.pos];
    if (!alive[c.pos] || right < 0 || syms[c.pos] != c.left || syms[right] != c.right) continue;
    syms[c.pos] = merges.find(pair_key(c.left, c.right))->second.id;
    alive[right] = 0;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  std::vector<int32_t> out;
  for (int32_t k = 0; k >= 0 && k < n; k = next[k]) out.push_back(syms[k]);
  syms.swap(out);
}

// ---------------------------------------------------------------------------------------------

Tokenizer Tokenizer::from_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::string json_path = path, dir = path;
  if (fs::is_directory(path)) {
    json_path = (fs::path(path) / "tokenizer.json").string();
    require_file(json_path, "tokenizer file (a Hugging Face tokenizer.json)");
  } else {
    require_file(path, "tokenizer file (a Hugging Face tokenizer.json or its directory)");
    dir = fs::path(path).parent_path().string();
    if (dir.empty()) dir = ".";
  }
  auto impl = std::make_shared<Impl>();
  impl->files.push_back(fs::absolute(json_path).string());
  try {
    RawJson json;
    {
      std::string text = read_file(json_path);
      try {
        json = RawJson::parse(text);
      } catch (const nlohmann::json::exception& e) {
        throw Error(cat("not valid JSON (", e.what(), "); is the file truncated?"));
      }
    }
    if (!json.is_object()) throw Error("expected a JSON object at the top level");
    for (const char* key : {"truncation", "padding"})
      if (json.contains(key) && !json[key].is_null())
        spdlog::warn("{}: \"{}\" is set; zeroth ignores it (encode never truncates or pads)", json_path, key);
    if (!json.contains("model")) throw Error("model: missing (expected the BPE model with vocab and merges)");
    impl->load_model(json["model"]);

    // Added tokens.
    if (json.contains("added_tokens") && !json["added_tokens"].is_null()) {
      const RawJson& list = json["added_tokens"];
      if (!list.is_array()) throw Error("added_tokens: expected a list");
      for (size_t i = 0; i < list.size(); ++i) {
        const RawJson& t = list[i];
        std::string where = cat("added_tokens[", i, "]");
        if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || !t.contains("content") ||
            !t["content"].is_string())
          throw Error(cat(where, ": expected an object with integer \"id\" and string \"content\""));
        AddedToken tok;
        tok.id = t["id"].get<int32_t>();
        if (tok.id < 0) throw Error(cat(where, ".id: negative id ", tok.id));
        tok.content = t["content"].get<std::string>();
        if (tok.content.empty()) throw Error(cat(where, ".content: empty"));
        tok.special = t.value("special", false);
        tok.single_word = t.value("single_word", false);
        tok.lstrip = t.value("lstrip", false);
        tok.rstrip = t.value("rstrip", false);
        tok.normalized = t.value("normalized", !tok.special);
        impl->added.push_back(tok);
      }
    }
    for (const char* key : {"normalizer", "pre_tokenizer", "post_processor", "decoder"}) {
      if (!json.contains(key) || json[key].is_null()) continue;
      std::string k = key;
      if (k == "normalizer") impl->normalizer = detail::make_normalizer(json[key], k);
      else if (k == "pre_tokenizer") impl->pre_tokenizer = detail::make_pre_tokenizer(json[key], k);
      else if (k == "post_processor") impl->post_processor = detail::make_post_processor(json[key], k);
      else impl->decoder = detail::make_decoder(json[key], k);
    }
  } catch (Error& e) {
    e.add_context(json_path);
    throw;
  } catch (const nlohmann::json::exception& e) {
    throw Error(cat(json_path, ": unexpected JSON value (", e.what(), ")"));
  }

  // Id tables including the added tokens.
  Impl& m = *impl;
  for (size_t index = 0; index < m.added.size(); ++index) {
    AddedToken& tok = m.added[index];
    if (static_cast<size_t>(tok.id) >= m.id_to_token.size()) {
      m.id_to_token.resize(tok.id + 1);
      m.id_known.resize(tok.id + 1, 0);
    }
    m.id_to_token[tok.id] = tok.content;
    m.id_known[tok.id] = 1;
    m.added_by_content[tok.content] = tok.id;
    if (tok.normalized && m.normalizer) {
      std::string normalized = tok.content;
      m.normalizer->normalize(normalized);
      m.normalized_trie.add(normalized, static_cast<int>(index));
    } else {
      m.raw_trie.add(tok.content, static_cast<int>(index));
    }
  }
  m.id_special.assign(m.id_to_token.size(), 0);
  for (const AddedToken& tok : m.added)
    if (tok.special) m.id_special[tok.id] = 1;
  for (size_t id = 0; id < m.id_special.size(); ++id)
    if (m.id_special[id]) m.special_ids.push_back(static_cast<int32_t>(id));

  // tokenizer_config.json
  std::string config_path = (fs::path(dir) / "tokenizer_config.json").string();
  if (fs::exists(config_path)) {
    m.files.push_back(fs::absolute(config_path).string());
    try {
      RawJson config;
      try {
        config = RawJson::parse(read_file(config_path));
      } catch (const nlohmann::json::exception& e) {
        throw Error(cat("not valid JSON (", e.what(), ")"));
      }
      if (!config.is_object()) throw Error("expected a JSON object at the top level");
      m.bos = special_token_from_config(config, "bos_token");
      m.eos = special_token_from_config(config, "eos_token");
      m.pad = special_token_from_config(config, "pad_token");
      m.unk = special_token_from_config(config, "unk_token");
      if (config.contains("chat_template")) {
        const RawJson& ct = config["chat_template"];
        if (ct.is_string()) {
          m.chat_template = ct.get<std::string>();
        } else if (ct.is_array()) {
          for (const RawJson& item : ct)
            if (item.is_object() && item.value("name", "") == "default" && item.contains("template"))
              m.chat_template = item["template"].get<std::string>();
        }
      }
      std::string cls = config.value("tokenizer_class", "");
      if (cls == "LlamaTokenizerFast" || cls == "LlamaTokenizer") {
        bool add_bos = config.value("add_bos_token", true), add_eos = config.value("add_eos_token", false);
        int32_t bos = -1, eos = -1;
        if (add_bos && m.bos && m.find(*m.bos)) bos = *m.find(*m.bos);
        if (add_eos && m.eos && m.find(*m.eos)) eos = *m.find(*m.eos);
        m.post_processor = detail::make_bos_eos_processor(bos, eos);
      }
    } catch (Error& e) {
      e.add_context(config_path);
      throw;
    } catch (const nlohmann::json::exception& e) {
      throw Error(cat(config_path, ": unexpected JSON value (", e.what(), ")"));
    }
  }
  std::string special_map = (fs::path(dir) / "special_tokens_map.json").string();
  if (fs::exists(special_map)) m.files.push_back(fs::absolute(special_map).string());
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const Impl& m = *impl_;
  size_t bad = unicode::find_invalid_utf8(text);
  if (bad != std::string_view::npos)
    throw Error(cat("encode: the text is not valid UTF-8 (byte ", bad, " of ", text.size(), ")"));
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::unique_lock<std::mutex> lock(m.cache_mutex, std::try_to_lock);
  auto* cache = lock.owns_lock() ? &m.cache : nullptr;

  std::vector<Segment> segments;
  m.split_added(text, m.raw_trie, segments);
  std::string piece;
  std::vector<Segment> inner;
  bool first = true;
  for (const Segment& seg : segments) {
    if (seg.token >= 0) {
      ids.push_back(m.added[seg.token].id);
      first = false;
      continue;
    }
    piece.assign(text.data() + seg.begin, seg.end - seg.begin);
    if (m.normalizer) m.normalizer->normalize(piece);
    if (m.normalized_trie.empty()) {
      if (!piece.empty()) m.encode_text(piece, first, ids, cache);
    } else {
      inner.clear();
      m.split_added(piece, m.normalized_trie, inner);
      std::string sub;
      for (const Segment& s : inner) {
        if (s.token >= 0) {
          ids.push_back(m.added[s.token].id);
        } else {
          sub.assign(piece, s.begin, s.end - s.begin);
          m.encode_text(sub, first, ids, cache);
        }
        first = false;
      }
    }
    first = false;
  }
  if (add_special_tokens && m.post_processor) m.post_processor->process(ids);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  return decode(ids.data(), ids.size(), skip_special_tokens);
}

std::string Tokenizer::decode(const int32_t* ids, size_t n, bool skip_special_tokens) const {
  const Impl& m = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(n);
  for (size_t k = 0; k < n; ++k) {
    int32_t id = ids[k];
    if (id < 0 || static_cast<size_t>(id) >= m.id_known.size() || !m.id_known[id])
      throw Error(cat("decode: unknown token id ", id, " at position ", k, " (vocabulary size ", vocab_size(), ")"));
    if (skip_special_tokens && m.id_special[id]) continue;
    tokens.push_back(m.id_to_token[id]);
  }
  if (!m.decoder) {
    std::string out;
    for (size_t k = 0; k < tokens.size(); ++k) out += (k ? " " : "") + tokens[k];
    return out;
  }
  m.decoder->decode_chain(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->id_to_token.size()); }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const { return impl_->find(token); }

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->id_known.size() || !impl_->id_known[id]) return std::nullopt;
  return impl_->id_to_token[id];
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->id_special.size() && impl_->id_special[id];
}
const std::vector<int32_t>& Tokenizer::special_token_ids() const { return impl_->special_ids; }
const std::vector<AddedToken>& Tokenizer::added_tokens() const { return impl_->added; }
const std::optional<std::string>& Tokenizer::bos_token() const { return impl_->bos; }
const std::optional<std::string>& Tokenizer::eos_token() const { return impl_->eos; }
const std::optional<std::string>& Tokenizer::pad_token() const { return impl_->pad; }
const std::optional<std::string>& Tokenizer::unk_token() const { return impl_->unk; }
std::optional<int32_t> Tokenizer::bos_token_id() const { return impl_->bos ? impl_->find(*impl_->bos) : std::nullopt; }
std::optional<int32_t> Tokenizer::eos_token_id() const { return impl_->eos ? impl_->find(*impl_->eos) : std::nullopt; }
std::optional<int32_t> Tokenizer::pad_token_id() const { return impl_->pad ? impl_->find(*impl_->pad) : std::nullopt; }
const std::optional<std::string>& Tokenizer::chat_template() const { return impl_->chat_template; }
const std::vector<std::string>& Tokenizer::source_files() const { return impl_->files; }

// ---------------------------------------------------------------------------------------------
// DecodeStream: the Rust library's DecodeStream algorithm. Keep the ids since `prefix_index_`;
// decode them; when the text grew and does not end in U+FFFD (an incomplete character), emit the
// new part and move the window forward.

DecodeStream::DecodeStream(Tokenizer tokenizer, bool skip_special_tokens)
    : tokenizer_(std::move(tokenizer)), skip_special_tokens_(skip_special_tokens) {}

std::string DecodeStream::step(int32_t id) {
  ids_.push_back(id);
  std::string text = tokenizer_.decode(ids_, skip_special_tokens_);
  static const std::string kReplacement = "\xEF\xBF\xBD";
  bool incomplete = text.size() >= 3 && text.compare(text.size() - 3, 3, kReplacement) == 0;
  if (text.size() <= prefix_.size() || incomplete) return std::string();
  if (text.compare(0, prefix_.size(), prefix_) != 0) {
    // The decoder rewrote earlier text (cannot happen with ByteLevel); emit what is new after the
    // common part so that nothing is lost.
    size_t common = 0;
    while (common < prefix_.size() && common < text.size() && prefix_[common] == text[common]) ++common;
    prefix_.resize(common);
  }
  std::string fresh = text.substr(prefix_.size());
  size_t new_prefix_index = ids_.size() - prefix_index_;
  ids_.erase(ids_.begin(), ids_.begin() + prefix_index_);
  prefix_ = tokenizer_.decode(ids_, skip_special_tokens_);
  prefix_index_ = new_prefix_index;
  return fresh;
}

std::string DecodeStream::flush() {
  std::string text = tokenizer_.decode(ids_, skip_special_tokens_);
  std::string rest = text.size() > prefix_.size() ? text.substr(prefix_.size()) : std::string();
  ids_.clear();
  prefix_.clear();
  prefix_index_ = 0;
  return rest;
}

}  // namespace zeroth::text
