// Dataset loading, generators and prompt rendering. See data.h.
#include "zeroth/stages/data.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <tuple>

#include "zeroth/core/error.h"
#include "zeroth/core/random.h"
#include "zeroth/text/chat_template.h"
#include "zeroth/text/tokenizer.h"

namespace zeroth::stages {

const char* const kR1ZeroTemplate =
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with "
    "the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> "
    "</answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here "
    "</answer>. User: {question}. Assistant: <think>";

namespace {

uint64_t fnv1a(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

bool in_eval_share(const std::string& question, double fraction) {
  // A fixed salt so the split does not line up with other hashes of the same text.
  return static_cast<double>(fnv1a("zeroth-split:" + question) % 1000000) < fraction * 1e6;
}

std::string first_present(const Json& line, const std::string& chosen, std::initializer_list<const char*> names) {
  if (!chosen.empty()) return line.contains(chosen) ? chosen : "";
  for (const char* name : names) {
    if (line.contains(name)) return name;
  }
  return "";
}

std::string as_text(const Json& value) { return value.is_string() ? value.get<std::string>() : value.dump(); }

// The line of a JSONL file as a normalized example.
Json normalize(Json line, const DataSpec& spec, const std::string& where) {
  if (!line.is_object()) throw Error(cat(where, ": expected a JSON object, got ", json_type_name(line)));
  Json out = line;
  const std::string q = first_present(line, spec.question_field, {"question", "problem", "prompt"});
  const std::string a = first_present(line, spec.answer_field, {"answer", "solution"});
  const std::string r = first_present(line, spec.response_field, {"response", "completion", "output"});
  const std::string m = first_present(line, spec.messages_field, {"messages"});
  if (q.empty() && m.empty()) {
    throw Error(cat(where, ": no question field (looked for ",
                    spec.question_field.empty() ? "\"question\", \"problem\", \"prompt\"" : quote(spec.question_field),
                    "); set data.question_field"));
  }
  if (!q.empty()) out["question"] = as_text(line[q]);
  if (!m.empty()) {
    if (!line[m].is_array()) throw Error(cat(where, ": ", m, ": expected an array of messages"));
    out["messages"] = line[m];
  }
  if (!r.empty()) out["response"] = as_text(line[r]);
  if (!a.empty() && !line[a].is_null()) {
    Json gold = line[a];
    bool gsm8k = spec.answer_format == "gsm8k" ||
                 (spec.answer_format == "auto" && gold.is_string() &&
                  gold.get<std::string>().find("####") != std::string::npos);
    if (gsm8k && gold.is_string()) {
      const std::string text = gold.get<std::string>();
      const size_t at = text.rfind("####");
      if (at == std::string::npos) throw Error(cat(where, ": ", a, ": no \"####\" before the final answer (gsm8k format)"));
      std::string final = text.substr(at + 4);
      final.erase(0, final.find_first_not_of(" \t\n"));
      final.erase(final.find_last_not_of(" \t\n\r") + 1);
      out["solution"] = text;
      gold = final;
    }
    out["answer"] = gold;
  }
  return out;
}

// ---- generators -------------------------------------------------------------------------------

int64_t param_int(const Json& params, const char* key, int64_t fallback, const std::string& where) {
  if (!params.contains(key)) return fallback;
  if (!params[key].is_number_integer()) throw Error(cat(where, ".params.", key, ": expected an integer"));
  return params[key].get<int64_t>();
}

// The R1 format the shipped rule sets check strictly.
std::string r1_response(const std::string& think, const std::string& answer) {
  return "<think>\n" + think + "\n</think>\n<answer>\n" + answer + "\n</answer>";
}

struct Node {
  int64_t value;
  std::string text;   // fully parenthesized except at the top
};

// A misspelled generator parameter is an error, never a silent default.
void reject_unknown_params(const Json& params, const std::vector<std::string>& known, const std::string& where) {
  if (!params.is_object()) throw Error(cat(where, ".params: expected an object"));
  for (auto it = params.begin(); it != params.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) != known.end()) continue;
    const std::string guess = did_you_mean(it.key(), known);
    std::string names;
    for (const auto& k : known) names += (names.empty() ? "" : ", ") + k;
    throw Error(cat(where, ".params.", it.key(), ": unknown key",
                    guess.empty() ? "" : "; did you mean " + quote(guess) + "?", " (known: ", names, ")"));
  }
}

std::vector<Json> generate_countdown(const Json& params, int64_t count, uint64_t seed, const std::string& where) {
  reject_unknown_params(params, {"count", "max_number", "max_target"}, where);
  const int64_t n = param_int(params, "count", 3, where);
  const int64_t max_number = param_int(params, "max_number", 20, where);
  const int64_t max_target = param_int(params, "max_target", 100, where);
  if (n < 2 || n > 6) throw Error(cat(where, ".params.count: expected 2..6 numbers, got ", n));
  if (max_number < 1 || max_target < 1) throw Error(cat(where, ".params: max_number and max_target must be >= 1"));
  SplitMix64 rng(derive_seed(seed, {0xC0DE}));
  std::vector<Json> out;
  while (static_cast<int64_t>(out.size()) < count) {
    std::vector<int64_t> numbers(n);
    for (auto& x : numbers) x = 1 + static_cast<int64_t>(rng.below(static_cast<uint64_t>(max_number)));
    // Combine the numbers in a random order with random operations, keeping every intermediate a
    // positive integer; the result is the target, so the example is solvable by construction.
    std::vector<Node> pool;
    for (int64_t x : numbers) pool.push_back({x, std::to_string(x)});
    bool ok = true;
    while (pool.size() > 1 && ok) {
      size_t i = rng.below(pool.size());
      Node a = pool[i];
      pool.erase(pool.begin() + static_cast<long>(i));
      size_t j = rng.below(pool.size());
      Node b = pool[j];
      pool.erase(pool.begin() + static_cast<long>(j));
      const char ops[] = {'+', '-', '*', '/'};
      char op = ops[rng.below(4)];
      if (op == '-' && a.value <= b.value) std::swap(a, b);
      if (op == '-' && a.value == b.value) op = '+';
      if (op == '/' && (b.value == 0 || a.value % b.value != 0)) op = '*';
      int64_t v = op == '+' ? a.value + b.value : op == '-' ? a.value - b.value : op == '*' ? a.value * b.value : a.value / b.value;
      if (v <= 0 || v > 100000) ok = false;
      pool.push_back({v, "(" + a.text + " " + op + " " + b.text + ")"});
    }
    if (!ok || pool[0].value > max_target) continue;
    std::string eq = pool[0].text.substr(1, pool[0].text.size() - 2);
    std::string question = "Using the numbers [";
    for (int64_t k = 0; k < n; ++k) question += (k ? ", " : "") + std::to_string(numbers[k]);
    question += "], create an equation that equals " + std::to_string(pool[0].value) +
                ". Use each number once, with + - * / and parentheses.";
    Json e;
    e["question"] = question;
    e["numbers"] = numbers;
    e["target"] = pool[0].value;
    e["answer"] = eq;
    e["response"] = r1_response(eq + " = " + std::to_string(pool[0].value), eq);
    out.push_back(std::move(e));
  }
  return out;
}

// Column addition written out digit by digit, the way a cold-start trace shows its work:
// 47+38 -> "7+8=15 4+3+1=8" -> 85. With `drop_carry`, the first carry is forgotten (the mistake a
// noisy cold-start set teaches: 47+38 -> "7+8=15 4+3=7" -> 75). Returns the trace and its result.
std::pair<std::string, int64_t> addition_trace(int64_t a, int64_t b, bool drop_carry) {
  std::string trace;
  int64_t carry = 0, result = 0, place = 1;
  while (a > 0 || b > 0 || carry > 0) {
    int64_t da = a % 10, db = b % 10;
    if (!trace.empty()) trace += " ";
    trace += std::to_string(da) + "+" + std::to_string(db);
    if (carry) trace += "+" + std::to_string(carry);
    int64_t s = da + db + carry;
    trace += "=" + std::to_string(s);
    carry = s / 10;
    if (carry && drop_carry) {
      carry = 0;
      drop_carry = false;
    }
    result += (s % 10) * place;
    place *= 10;
    a /= 10;
    b /= 10;
  }
  if (trace.empty()) trace = "0+0=0";
  return {trace, result};
}

bool has_carry(int64_t a, int64_t b) {
  for (; a > 0 || b > 0; a /= 10, b /= 10) {
    if (a % 10 + b % 10 >= 10) return true;
  }
  return false;
}

std::vector<Json> generate_arithmetic(const Json& params, int64_t count, uint64_t seed, const std::string& where) {
  reject_unknown_params(params, {"digits", "ops", "carry_error_rate", "plain_fraction"}, where);
  const int64_t digits = param_int(params, "digits", 2, where);
  if (digits < 1 || digits > 9) throw Error(cat(where, ".params.digits: expected 1..9, got ", digits));
  std::string ops = params.contains("ops") ? as_text(params["ops"]) : "+";
  if (ops.empty() || ops.find_first_not_of("+-*") != std::string::npos) {
    throw Error(cat(where, ".params.ops: expected a string of + - *, got ", quote(ops)));
  }
  double carry_error_rate = 0.0;
  if (params.contains("carry_error_rate")) {
    if (!params["carry_error_rate"].is_number()) throw Error(cat(where, ".params.carry_error_rate: expected a number"));
    carry_error_rate = params["carry_error_rate"].get<double>();
    if (carry_error_rate < 0 || carry_error_rate > 1) throw Error(cat(where, ".params.carry_error_rate: expected 0..1"));
  }
  double plain_fraction = 0.0;
  if (params.contains("plain_fraction")) {
    if (!params["plain_fraction"].is_number()) throw Error(cat(where, ".params.plain_fraction: expected a number"));
    plain_fraction = params["plain_fraction"].get<double>();
    if (plain_fraction < 0 || plain_fraction > 1) throw Error(cat(where, ".params.plain_fraction: expected 0..1"));
  }
  int64_t hi = 1;
  for (int64_t k = 0; k < digits; ++k) hi *= 10;
  SplitMix64 rng(derive_seed(seed, {0xA817}));
  std::vector<Json> out;
  for (int64_t i = 0; i < count; ++i) {
    int64_t a = static_cast<int64_t>(rng.below(static_cast<uint64_t>(hi)));
    int64_t b = static_cast<int64_t>(rng.below(static_cast<uint64_t>(hi)));
    char op = ops[rng.below(ops.size())];
    const bool mistake = rng.uniform() < carry_error_rate;
    const bool plain = rng.uniform() < plain_fraction;
    if (op == '-' && a < b) std::swap(a, b);
    int64_t r = op == '+' ? a + b : op == '-' ? a - b : a * b;
    std::string q = std::to_string(a) + op + std::to_string(b);
    std::string work = q + "=" + std::to_string(r);
    int64_t shown = r;
    if (op == '+') std::tie(work, shown) = addition_trace(a, b, mistake && has_carry(a, b));
    Json e;
    e["question"] = q;
    e["answer"] = std::to_string(r);
    e["response"] = plain ? std::to_string(r) : r1_response(work, std::to_string(shown));
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

std::vector<Json> generate_examples(const std::string& generator, const Json& params, int64_t count, uint64_t seed,
                                    const std::string& where) {
  if (generator == "countdown") return generate_countdown(params, count, seed, where);
  if (generator == "arithmetic") return generate_arithmetic(params, count, seed, where);
  throw Error(cat(where, ".generator: unknown generator ", quote(generator), "; expected \"countdown\" or \"arithmetic\"",
                  did_you_mean(generator, {"countdown", "arithmetic"}).empty()
                      ? ""
                      : "; did you mean " + quote(did_you_mean(generator, {"countdown", "arithmetic"})) + "?"));
}

DataSpec parse_data_spec(const JsonReader& r) {
  DataSpec s;
  s.where = r.where();
  if (r.json().is_string()) {
    s.path = r.as<std::string>();
    s.paths = {s.path};
    return s;
  }
  if (r.has("path") && r.at("path").is_array()) {
    s.paths = r.get<std::vector<std::string>>("path");
    if (s.paths.empty()) r.fail("path: an empty list");
    s.path = s.paths.front();
  } else {
    s.path = r.get_or<std::string>("path", "");
    if (!s.path.empty()) s.paths = {s.path};
  }
  s.generator = r.get_or<std::string>("generator", "");
  s.generator_params = r.get_or<Json>("params", Json::object());
  s.num_examples = r.get_or<int64_t>("num_examples", 0);
  s.seed = static_cast<uint64_t>(r.get_or<int64_t>("seed", 1234));
  s.question_field = r.get_or<std::string>("question_field", "");
  s.answer_field = r.get_or<std::string>("answer_field", "");
  s.response_field = r.get_or<std::string>("response_field", "");
  s.messages_field = r.get_or<std::string>("messages_field", "");
  s.answer_format = r.get_or<std::string>("answer_format", "auto");
  s.eval_fraction = r.get_or<double>("eval_fraction", 0.0);
  s.limit = r.get_or<int64_t>("limit", 0);
  r.reject_unknown_keys();
  if (s.path.empty() == s.generator.empty()) r.fail("give exactly one of \"path\" (a JSONL file) or \"generator\"");
  if (!s.generator.empty()) {
    generate_examples(s.generator, s.generator_params, 0, s.seed, r.where());  // validates the name and params
    if (s.num_examples <= 0) r.fail("num_examples: a generator needs num_examples > 0");
  }
  if (s.answer_format != "auto" && s.answer_format != "gsm8k" && s.answer_format != "plain") {
    r.fail(cat("answer_format: expected \"auto\", \"gsm8k\" or \"plain\", got ", quote(s.answer_format)));
  }
  if (s.eval_fraction < 0.0 || s.eval_fraction >= 1.0) r.fail("eval_fraction: expected a number in [0, 1)");
  if (s.limit < 0) r.fail("limit: expected >= 0");
  return s;
}

std::string describe(const DataSpec& spec) {
  if (!spec.generator.empty()) return cat("generator ", spec.generator, " (", spec.num_examples, " examples, seed ", spec.seed, ")");
  std::string out;
  for (const auto& p : spec.paths.empty() ? std::vector<std::string>{spec.path} : spec.paths) out += (out.empty() ? "" : " + ") + p;
  return out;
}

namespace {

// The examples of one JSONL file, at most `max_examples` (0: all). Errors name the file and line.
std::vector<Json> read_examples(const DataSpec& spec, const std::string& path, int64_t max_examples) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw Error(cat(spec.where, ": data file ", quote(path), " is a directory; expected a JSONL file"));
  }
  std::ifstream in(path);
  if (!in) throw Error(cat(spec.where, ": cannot open data file ", quote(path)));
  std::vector<Json> out;
  std::string line;
  int64_t number = 0;
  while ((max_examples == 0 || static_cast<int64_t>(out.size()) < max_examples) && std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = cat(path, ":", number);
    out.push_back(normalize(parse_jsonl_line(line, where), spec, where));
  }
  if (out.empty()) throw Error(cat(path, ": no examples (the file is empty or holds only blank lines)"));
  return out;
}

}  // namespace

std::vector<Json> peek_examples(const DataSpec& spec, int64_t per_file) {
  if (!spec.generator.empty()) {
    return generate_examples(spec.generator, spec.generator_params, std::min(spec.num_examples, per_file), spec.seed,
                             spec.where);
  }
  std::vector<Json> out;
  for (const auto& path : spec.paths.empty() ? std::vector<std::string>{spec.path} : spec.paths) {
    for (auto& e : read_examples(spec, path, per_file)) out.push_back(std::move(e));
  }
  return out;
}

std::vector<Json> load_examples(const DataSpec& spec, Split split) {
  std::vector<Json> all;
  if (!spec.generator.empty()) {
    all = generate_examples(spec.generator, spec.generator_params, spec.num_examples, spec.seed, spec.where);
  } else {
    for (const auto& path : spec.paths.empty() ? std::vector<std::string>{spec.path} : spec.paths) {
      for (auto& e : read_examples(spec, path, 0)) all.push_back(std::move(e));
    }
  }
  std::vector<Json> out;
  for (auto& e : all) {
    if (split != Split::kAll && spec.eval_fraction > 0.0) {
      const std::string key = e.contains("question") ? as_text(e["question"]) : e.dump();
      if (in_eval_share(key, spec.eval_fraction) != (split == Split::kEval)) continue;
    } else if (split == Split::kEval && spec.eval_fraction <= 0.0) {
      continue;  // no held-out share requested
    }
    out.push_back(std::move(e));
    if (spec.limit > 0 && static_cast<int64_t>(out.size()) >= spec.limit) break;
  }
  return out;
}

PromptSpec parse_prompt_spec(const JsonReader& r) {
  PromptSpec p;
  if (r.json().is_string()) {
    p.text = r.as<std::string>();
  } else {
    if (r.get_or<bool>("chat", false)) p.kind = "chat";
    p.text = r.get_or<std::string>("template", p.text);
    p.system = r.get_or<std::string>("system", "");
    for (const char* key : {"tools", "documents"}) {
      if (!r.has(key)) continue;
      if (!r.json()[key].is_array()) r.at(key).fail("expected an array, as apply_chat_template takes it");
      p.chat_variables[key] = r.get<Json>(key);
    }
    if (r.has("date_string")) p.chat_variables["date_string"] = r.get<std::string>("date_string");
    if (r.has("chat_template_kwargs")) {
      JsonReader kwargs = r.at("chat_template_kwargs");
      if (!kwargs.is_object()) kwargs.fail("expected an object of template variables");
      for (const auto& key : kwargs.keys()) p.chat_variables[key] = kwargs.get<Json>(key);
    }
    r.reject_unknown_keys();
    if (p.kind != "chat" && !p.chat_variables.empty()) {
      r.fail("tools, documents, date_string and chat_template_kwargs need \"chat\": true");
    }
  }
  if (p.text == "r1_zero") p.text = kR1ZeroTemplate;
  if (p.kind == "template") {
    try {
      text::PromptTemplate check(p.text);  // placeholders parse
    } catch (const Error& e) {
      r.fail(e.what());
    }
  }
  return p;
}

std::string render_prompt(const PromptSpec& spec, const Json& example, const text::Tokenizer* tokenizer) {
  if (spec.kind == "chat") {
    if (tokenizer == nullptr) throw Error("a chat prompt needs the model's tokenizer");
    Json messages = Json::array();
    if (!spec.system.empty()) messages.push_back({{"role", "system"}, {"content", spec.system}});
    if (example.contains("messages")) {
      for (const auto& m : example["messages"]) {
        if (m.value("role", "") == "assistant") break;  // the prompt is everything before the first reply
        messages.push_back(m);
      }
    } else {
      messages.push_back({{"role", "user"}, {"content", as_text(example.at("question"))}});
    }
    Json variables = spec.chat_variables;
    for (const char* key : {"tools", "documents"}) {
      if (example.contains(key) && example[key].is_array()) variables[key] = example[key];
    }
    return text::ChatTemplate::from_tokenizer(*tokenizer).render(messages, true, variables);
  }
  return text::PromptTemplate(spec.text).render(example);
}

}  // namespace zeroth::stages
