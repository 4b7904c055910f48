// "format": the R1 template. Modes (docs/verifiers.md section 6, zeroth rule):
//  strict     the whole completion, trailing whitespace aside, is
//             "<think>\n" T "\n</think>\n<answer>\n" A "\n</answer>"; each tag exactly once; A not blank.
//  lenient    the same tags in the same order, any whitespace around and between them.
//  think_only exactly one <think>...</think> block, first; anything after (distillation format).
// `prefix` is prepended first, for prompts that pre-fill "<think>\n".
#include <cctype>

#include "rewards/verifiers/verifiers.h"

namespace zeroth::rewards {
namespace {

size_t count_of(std::string_view text, std::string_view needle) {
  size_t n = 0;
  for (size_t k = text.find(needle); k != std::string_view::npos; k = text.find(needle, k + needle.size())) ++n;
  return n;
}

bool is_blank(std::string_view s) {
  for (char c : s) if (!std::isspace(static_cast<unsigned char>(c))) return false;
  return true;
}

std::string_view rtrim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}
std::string_view ltrim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  return s;
}

class FormatVerifier : public Verifier {
 public:
  explicit FormatVerifier(const JsonReader& params) {
    mode_ = params.get_or<std::string>("mode", "strict");
    if (mode_ != "strict" && mode_ != "lenient" && mode_ != "think_only")
      params.at("mode").fail(cat("expected \"strict\", \"lenient\" or \"think_only\", got ", quote(mode_)));
    std::string think = params.get_or<std::string>("think_tag", "think");
    std::string answer = params.get_or<std::string>("answer_tag", "answer");
    think_open_ = "<" + think + ">";
    think_close_ = "</" + think + ">";
    answer_open_ = "<" + answer + ">";
    answer_close_ = "</" + answer + ">";
    prefix_ = params.get_or<std::string>("prefix", "");
    correct_ = params.get_or<double>("correct", 1.0);
    wrong_ = params.get_or<double>("wrong", 0.0);
  }

  bool matches(std::string_view s) const {
    if (count_of(s, think_open_) != 1 || count_of(s, think_close_) != 1) return false;
    if (mode_ == "think_only") {
      std::string_view t = ltrim(s);
      return t.compare(0, think_open_.size(), think_open_) == 0 && s.find(think_close_) > s.find(think_open_);
    }
    if (count_of(s, answer_open_) != 1 || count_of(s, answer_close_) != 1) return false;
    s = rtrim(s);
    if (mode_ == "lenient") s = ltrim(s);
    if (s.compare(0, think_open_.size(), think_open_) != 0) return false;
    size_t think_end = s.find(think_close_), answer_start = s.find(answer_open_), answer_end = s.find(answer_close_);
    if (!(think_end < answer_start && answer_start < answer_end)) return false;
    if (answer_end + answer_close_.size() != s.size()) return false;
    std::string_view between = s.substr(think_end + think_close_.size(), answer_start - think_end - think_close_.size());
    std::string_view answer = s.substr(answer_start + answer_open_.size(), answer_end - answer_start - answer_open_.size());
    if (is_blank(answer)) return false;
    if (mode_ == "lenient") return is_blank(between);
    // strict: exact newlines around every tag.
    if (s.compare(think_open_.size(), 1, "\n") != 0) return false;
    if (think_end < think_open_.size() + 2 || s[think_end - 1] != '\n') return false;  // "<think>\n" T "\n</think>"
    if (between != "\n") return false;
    if (answer.size() < 2 || answer.front() != '\n' || answer.back() != '\n') return false;
    return true;
  }

  std::optional<double> score(const RewardInput& input) const override {
    if (prefix_.empty()) return matches(input.completion) ? correct_ : wrong_;
    std::string full = prefix_;
    full.append(input.completion);
    return matches(full) ? correct_ : wrong_;
  }

 private:
  std::string mode_, think_open_, think_close_, answer_open_, answer_close_, prefix_;
  double correct_ = 1.0, wrong_ = 0.0;
};

// "tag_count" (open-r1): +0.25 for each of "<think>\n", "\n</think>\n", "\n<answer>\n",
// "\n</answer>" that occurs exactly once.
class TagCountVerifier : public Verifier {
 public:
  explicit TagCountVerifier(const JsonReader& params) {
    std::string think = params.get_or<std::string>("think_tag", "think");
    std::string answer = params.get_or<std::string>("answer_tag", "answer");
    tags_[0] = "<" + think + ">\n";
    tags_[1] = "\n</" + think + ">\n";
    tags_[2] = "\n<" + answer + ">\n";
    tags_[3] = "\n</" + answer + ">";
    per_tag_ = params.get_or<double>("per_tag", 0.25);
  }
  std::optional<double> score(const RewardInput& input) const override {
    double total = 0;
    for (const std::string& tag : tags_) if (count_of(input.completion, tag) == 1) total += per_tag_;
    return total;
  }

 private:
  std::string tags_[4];
  double per_tag_ = 0.25;
};

}  // namespace

std::unique_ptr<Verifier> make_format_verifier(const JsonReader& params) { return std::make_unique<FormatVerifier>(params); }
std::unique_ptr<Verifier> make_tag_count_verifier(const JsonReader& params) { return std::make_unique<TagCountVerifier>(params); }

}  // namespace zeroth::rewards
