// Length shaping.
//  "cosine_length" (Yeo et al. 2025, "Demystifying Long Chain-of-Thought Reasoning"; open-r1
//    get_cosine_scaled_reward): r = lo + (hi - lo) * (1 + cos(pi * L / max_length)) / 2 with
//    (lo, hi) = (min_value_correct, max_value_correct) when correct, else (max_value_wrong,
//    min_value_wrong): short right answers earn most, short wrong answers are punished most.
//    Correctness is the rule set's earlier component `accuracy_component` (> 0.5 is correct).
//  "overlong" (DAPO, Yu et al. 2025, eq. 13 "soft overlong punishment"): 0 up to
//    max_length - cache_length, then a linear ramp to -penalty at max_length, -penalty beyond.
// Lengths count code points ("chars", default) or whitespace-separated "words": the rewards layer
// has no tokenizer; set max_length in the same unit.
#include <cmath>

#include "rewards/verifiers/verifiers.h"

namespace zeroth::rewards {
namespace {

class CosineLengthVerifier : public Verifier {
 public:
  explicit CosineLengthVerifier(const JsonReader& params) {
    min_value_wrong_ = params.get_or<double>("min_value_wrong", -1.0);
    max_value_wrong_ = params.get_or<double>("max_value_wrong", -0.5);
    min_value_correct_ = params.get_or<double>("min_value_correct", 0.5);
    max_value_correct_ = params.get_or<double>("max_value_correct", 1.0);
    max_length_ = params.get_or<double>("max_length", 1000.0);
    if (!(max_length_ > 0)) params.at("max_length").fail("expected a positive length");
    accuracy_component_ = params.get_or<std::string>("accuracy_component", "accuracy");
    unit_ = detail::read_length_unit(params);
  }

  std::optional<double> score(const RewardInput& input) const override {
    if (!input.previous) return std::nullopt;
    auto it = input.previous->find(accuracy_component_);
    if (it == input.previous->end() || !it->second) return std::nullopt;
    bool correct = *it->second > 0.5;
    double length = std::min(detail::text_length(input.completion, unit_), max_length_);
    double cosine = std::cos(length / max_length_ * M_PI);
    double lo = correct ? min_value_correct_ : max_value_wrong_;
    double hi = correct ? max_value_correct_ : min_value_wrong_;
    return lo + 0.5 * (hi - lo) * (1.0 + cosine);
  }

 private:
  double min_value_wrong_, max_value_wrong_, min_value_correct_, max_value_correct_, max_length_;
  std::string accuracy_component_, unit_;
};

class OverlongVerifier : public Verifier {
 public:
  explicit OverlongVerifier(const JsonReader& params) {
    max_length_ = params.get<double>("max_length");
    cache_length_ = params.get<double>("cache_length");
    penalty_ = params.get_or<double>("penalty", 1.0);
    if (!(cache_length_ > 0 && cache_length_ <= max_length_))
      params.at("cache_length").fail(cat("expected 0 < cache_length <= max_length (", max_length_, "), got ", cache_length_));
    unit_ = detail::read_length_unit(params);
  }

  std::optional<double> score(const RewardInput& input) const override {
    double length = detail::text_length(input.completion, unit_);
    double expected = max_length_ - cache_length_;
    if (length <= expected) return 0.0;
    if (length <= max_length_) return penalty_ * (expected - length) / cache_length_;
    return -penalty_;
  }

 private:
  double max_length_, cache_length_, penalty_;
  std::string unit_;
};

}  // namespace

std::unique_ptr<Verifier> make_cosine_length_verifier(const JsonReader& params) { return std::make_unique<CosineLengthVerifier>(params); }
std::unique_ptr<Verifier> make_overlong_verifier(const JsonReader& params) { return std::make_unique<OverlongVerifier>(params); }

}  // namespace zeroth::rewards
