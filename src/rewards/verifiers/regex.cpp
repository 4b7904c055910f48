// "regex": custom rules without recompiling, in re2 syntax (linear time: no pattern can hang
// training). Modes:
//   match    correct when `pattern` is found in the completion (`full`: must match all of it)
//   extract  the first capture group of the last match is compared with the gold
//            (`compare`: "exact" | "nocase" | "number" | "math")
// Patterns are compiled once, when the rule set loads; a bad pattern is an error naming its path.
#include <re2/re2.h>

#include <cctype>

#include "rewards/verifiers/verifiers.h"
#include "zeroth/rewards/math_answer.h"

namespace zeroth::rewards {
namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

class RegexVerifier : public Verifier {
 public:
  explicit RegexVerifier(const JsonReader& params) {
    std::string pattern = params.get<std::string>("pattern");
    RE2::Options opts;
    opts.set_log_errors(false);
    opts.set_dot_nl(params.get_or<bool>("dot_all", false));
    opts.set_case_sensitive(!params.get_or<bool>("ignore_case", false));
    re_ = std::make_unique<RE2>(pattern, opts);
    if (!re_->ok()) params.at("pattern").fail(cat("invalid re2 pattern: ", re_->error(), " (re2 has no look-around or backreferences)"));
    mode_ = params.get_or<std::string>("mode", "match");
    if (mode_ != "match" && mode_ != "extract") params.at("mode").fail(cat("expected \"match\" or \"extract\", got ", quote(mode_)));
    full_ = params.get_or<bool>("full", false);
    compare_ = params.get_or<std::string>("compare", "exact");
    if (compare_ != "exact" && compare_ != "nocase" && compare_ != "number" && compare_ != "math")
      params.at("compare").fail(cat("expected \"exact\", \"nocase\", \"number\" or \"math\", got ", quote(compare_)));
    if (mode_ == "extract" && re_->NumberOfCapturingGroups() < 1)
      params.at("pattern").fail("mode \"extract\" needs a capture group around the answer, e.g. \"Answer: (\\\\S+)\"");
    gold_field_ = params.get_or<std::string>("gold_field", "answer");
    correct_ = params.get_or<double>("correct", 1.0);
    wrong_ = params.get_or<double>("wrong", 0.0);
  }

  std::optional<double> score(const RewardInput& input) const override {
    re2::StringPiece text(input.completion.data(), input.completion.size());
    if (mode_ == "match") {
      bool hit = full_ ? RE2::FullMatch(text, *re_) : RE2::PartialMatch(text, *re_);
      return hit ? correct_ : wrong_;
    }
    const Json& example = *input.example;
    if (!example.is_object() || !example.contains(gold_field_) || example[gold_field_].is_null()) return std::nullopt;
    const Json& g = example[gold_field_];
    std::string gold = trim(g.is_string() ? g.get<std::string>() : g.dump());
    std::optional<std::string> last;
    std::string captured;
    for (;;) {
      size_t before = text.size();
      if (!RE2::FindAndConsume(&text, *re_, &captured)) break;
      if (!captured.empty() || !last) last = captured;  // an empty match does not replace a real one
      if (text.size() == before) {  // an empty match: step past it, or it would repeat forever
        if (text.empty()) break;
        text.remove_prefix(1);
      }
    }
    if (!last) return wrong_;
    std::string pred = trim(*last);
    bool equal = false;
    if (compare_ == "exact") {
      equal = pred == gold;
    } else if (compare_ == "nocase") {
      equal = pred.size() == gold.size();
      for (size_t i = 0; equal && i < pred.size(); ++i)
        equal = std::tolower(static_cast<unsigned char>(pred[i])) == std::tolower(static_cast<unsigned char>(gold[i]));
    } else if (compare_ == "number") {
      auto a = detail::parse_plain_number(pred), b = detail::parse_plain_number(gold);
      equal = a && b && *a == *b;
    } else {
      equal = math_answers_equal(gold, pred);
    }
    return equal ? correct_ : wrong_;
  }

 private:
  std::unique_ptr<RE2> re_;
  std::string mode_, compare_, gold_field_;
  bool full_ = false;
  double correct_ = 1.0, wrong_ = 0.0;
};

}  // namespace

std::unique_ptr<Verifier> make_regex_verifier(const JsonReader& params) { return std::make_unique<RegexVerifier>(params); }

}  // namespace zeroth::rewards
