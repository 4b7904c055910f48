// Factories of the built-in verifiers (one .cpp each in this folder) and small text helpers they
// share. Private to the rewards layer; builtin.cpp registers the factories by name.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "rewards/math/rational.h"
#include "zeroth/core/json.h"
#include "zeroth/rewards/verifier.h"

namespace zeroth::rewards {

std::unique_ptr<Verifier> make_math_verifier(const JsonReader& params);
std::unique_ptr<Verifier> make_gsm8k_verifier(const JsonReader& params);
std::unique_ptr<Verifier> make_countdown_verifier(const JsonReader& params);
std::unique_ptr<Verifier> make_choice_verifier(const JsonReader& params);
std::unique_ptr<Verifier> make_format_verifier(const JsonReader& params);
std::unique_ptr<Verifier> make_tag_count_verifier(const JsonReader& params);
std::unique_ptr<Verifier> make_cosine_length_verifier(const JsonReader& params);
std::unique_ptr<Verifier> make_overlong_verifier(const JsonReader& params);
std::unique_ptr<Verifier> make_repetition_verifier(const JsonReader& params);
std::unique_ptr<Verifier> make_language_verifier(const JsonReader& params);
std::unique_ptr<Verifier> make_regex_verifier(const JsonReader& params);

namespace detail {

// "1,234.50", "$18", ".5", "-3", "18.00" -> exact value; nullopt if not a plain decimal number.
std::optional<math::Rational> parse_plain_number(std::string_view text);
// The last number in `text` ("-1,234.5" style), or nullopt.
std::optional<std::string> last_number_in(std::string_view text);
// Content of the last <tag>...</tag> block, or nullopt.
std::optional<std::string_view> last_tag_block(std::string_view text, const std::string& tag);
// Length of a completion in "chars" (Unicode code points) or "words" (whitespace-separated).
double text_length(std::string_view text, const std::string& unit);
// Validates a "unit" param ("chars" | "words").
std::string read_length_unit(const JsonReader& params);

}  // namespace detail
}  // namespace zeroth::rewards
