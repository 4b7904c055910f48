// "repetition" (open-r1 get_repetition_penalty_reward, after Yeo et al. 2025): words are
// lower-cased and split on whitespace; with N of size `ngram_size`, total = words - N + 1 and
// r = (1 - unique_ngrams / total) * max_penalty (max_penalty <= 0). Fewer words than N: 0.
#include <cctype>
#include <string>
#include <unordered_set>
#include <vector>

#include "rewards/verifiers/verifiers.h"

namespace zeroth::rewards {
namespace {

class RepetitionVerifier : public Verifier {
 public:
  explicit RepetitionVerifier(const JsonReader& params) {
    ngram_size_ = params.get_or<int>("ngram_size", 3);
    max_penalty_ = params.get_or<double>("max_penalty", -1.0);
    if (ngram_size_ < 1) params.at("ngram_size").fail("expected an integer >= 1");
    if (max_penalty_ > 0) params.at("max_penalty").fail(cat("expected a value <= 0 (a penalty), got ", max_penalty_));
  }

  std::optional<double> score(const RewardInput& input) const override {
    std::vector<std::string> words;
    std::string word;
    for (char c : input.completion) {
      if (std::isspace(static_cast<unsigned char>(c))) {
        if (!word.empty()) words.push_back(std::move(word));
        word.clear();
      } else {
        word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      }
    }
    if (!word.empty()) words.push_back(std::move(word));
    size_t n = static_cast<size_t>(ngram_size_);
    if (words.size() < n) return 0.0;
    std::unordered_set<std::string> unique;
    size_t total = words.size() - n + 1;
    for (size_t i = 0; i < total; ++i) {
      std::string key;
      for (size_t k = 0; k < n; ++k) {
        key += words[i + k];
        key.push_back('\x1f');
      }
      unique.insert(std::move(key));
    }
    double scaling = 1.0 - static_cast<double>(unique.size()) / static_cast<double>(total);
    return scaling * max_penalty_;
  }

 private:
  int ngram_size_ = 3;
  double max_penalty_ = -1.0;
};

}  // namespace

std::unique_ptr<Verifier> make_repetition_verifier(const JsonReader& params) { return std::make_unique<RepetitionVerifier>(params); }

}  // namespace zeroth::rewards
