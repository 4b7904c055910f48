// zeroth::Error: the one exception type for everything a user can cause (bad files, bad flags,
// bad recipes). Its message says what went wrong, where, what was expected and the fix; context is
// added as the error rises ("while loading recipes/x.json: stages[1].lr: expected a number ...").
// Invariants that only a bug can break use ZEROTH_CHECK, which adds file:line.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace zeroth {

class Error : public std::runtime_error {
 public:
  explicit Error(std::string message);

  // Prepends "context: " to the message, so the outermost context reads first:
  //   catch (Error& e) { e.add_context("while loading " + path); throw; }
  void add_context(const std::string& context);

  const char* what() const noexcept override { return message_.c_str(); }
  const std::string& message() const { return message_; }

 private:
  std::string message_;
};

// cat("a", 1, "b") -> "a1b": message building without a formatting library in headers.
template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

// Quotes a user string for messages, escaping control characters and cutting it at `max_chars`.
std::string quote(const std::string& text, size_t max_chars = 80);

// Levenshtein-closest candidate within a small distance, or "" when none is close enough.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace zeroth

// Always-on invariant check (release builds too). For conditions a user can cause, throw
// zeroth::Error with a message that names the input instead.
#define ZEROTH_CHECK(cond, ...)                                                              \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      throw ::zeroth::Error(::zeroth::cat("internal check failed: " #cond " at ", __FILE__, \
                                          ":", __LINE__, ": ", ##__VA_ARGS__));              \
    }                                                                                        \
  } while (0)
