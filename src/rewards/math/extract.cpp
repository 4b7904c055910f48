// Final-answer extraction from completions (docs/verifiers.md section 1, "Extraction").
// Hand scanners instead of regexes: nested braces need counting, and every scan is linear in the
// completion, so a 1 MB completion costs one pass.
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include "zeroth/rewards/math_answer.h"

namespace zeroth::rewards {
namespace {

std::string_view trim_view(std::string_view s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

struct Box {
  size_t start = 0;        // index of the backslash
  size_t end = 0;          // one past the closing brace
  std::string_view content;
  bool terminated = true;
};

// All top-level \boxed / \fbox in `text`, left to right (a box inside a box is part of its content).
std::vector<Box> find_boxes(std::string_view text) {
  std::vector<Box> boxes;
  size_t i = 0;
  while (i < text.size()) {
    size_t k = text.find('\\', i);
    if (k == std::string_view::npos) break;
    size_t name_len = 0;
    if (text.compare(k, 6, "\\boxed") == 0) name_len = 6;
    else if (text.compare(k, 5, "\\fbox") == 0) name_len = 5;
    if (name_len == 0) { i = k + 1; continue; }
    size_t j = k + name_len;
    if (j < text.size() && std::isalpha(static_cast<unsigned char>(text[j]))) { i = j; continue; }  // \boxedx
    Box box;
    box.start = k;
    if (j < text.size() && text[j] == '{') {
      int depth = 0;
      size_t p = j;
      for (; p < text.size(); ++p) {
        char c = text[p];
        if (c == '\\' && p + 1 < text.size() && (text[p + 1] == '{' || text[p + 1] == '}')) { ++p; continue; }
        if (c == '{') ++depth;
        else if (c == '}' && --depth == 0) break;
      }
      if (p >= text.size()) {
        box.terminated = false;
        box.end = text.size();
        boxes.push_back(box);
        break;
      }
      box.content = text.substr(j + 1, p - j - 1);
      box.end = p + 1;
    } else {
      // "\boxed 5": the next run of non-space characters.
      size_t p = j;
      while (p < text.size() && text[p] == ' ') ++p;
      size_t q = p;
      while (q < text.size() && !std::isspace(static_cast<unsigned char>(text[q])) && text[q] != '$') ++q;
      if (p == j) { i = j; continue; }  // "\boxed" followed by something else: not a box
      box.content = text.substr(p, q - p);
      box.end = q;
    }
    boxes.push_back(box);
    i = box.end;
  }
  return boxes;
}

// The gap between two boxes joins them into one list answer when it is only a separator.
bool is_separator_gap(std::string_view gap) {
  std::string g;
  for (char c : gap) {
    if (c == '$' || std::isspace(static_cast<unsigned char>(c))) continue;
    g.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return g.empty() || g == "," || g == ";" || g == "and" || g == "or" || g == ",and" || g == "\\text{and}" ||
         g == "\\text{or}" || g == "\\quad" || g == "\\\\";
}

std::optional<std::string> answer_from_boxes(std::string_view text, bool* had_box) {
  std::vector<Box> boxes = find_boxes(text);
  *had_box = !boxes.empty();
  if (boxes.empty()) return std::nullopt;
  const Box& last = boxes.back();
  if (!last.terminated) return std::nullopt;
  std::vector<std::string_view> parts{trim_view(last.content)};
  for (size_t b = boxes.size() - 1; b > 0 && parts.size() < 32; --b) {
    const Box& prev = boxes[b - 1];
    if (!is_separator_gap(text.substr(prev.end, boxes[b].start - prev.end))) break;
    parts.push_back(trim_view(prev.content));
  }
  std::reverse(parts.begin(), parts.end());
  std::string joined;
  for (std::string_view p : parts) {
    if (p.empty()) return std::nullopt;  // an empty box is no answer
    if (!joined.empty()) joined += ", ";
    joined.append(p);
  }
  return joined;
}

// Case-insensitive search for the last occurrence of `needle` (ASCII) in `text`.
size_t rfind_nocase(std::string_view text, std::string_view needle) {
  if (needle.size() > text.size()) return std::string_view::npos;
  for (size_t i = text.size() - needle.size() + 1; i-- > 0;) {
    bool match = true;
    for (size_t k = 0; k < needle.size(); ++k) {
      if (std::tolower(static_cast<unsigned char>(text[i + k])) != needle[k]) { match = false; break; }
    }
    if (match) return i;
  }
  return std::string_view::npos;
}

// The answer written after a phrase: "$\frac12$", "\(x\)", or the rest of the line up to a
// sentence end.
std::optional<std::string> answer_after(std::string_view rest) {
  size_t p = 0;
  while (p < rest.size() && (rest[p] == ' ' || rest[p] == ':' || rest[p] == '*')) ++p;
  rest = rest.substr(p);
  if (rest.compare(0, 2, "$$") == 0) {
    size_t close = rest.find("$$", 2);
    if (close == std::string_view::npos) return std::nullopt;
    return std::string(trim_view(rest.substr(2, close - 2)));
  }
  if (!rest.empty() && rest[0] == '$') {
    size_t close = rest.find('$', 1);
    if (close == std::string_view::npos) return std::nullopt;
    return std::string(trim_view(rest.substr(1, close - 1)));
  }
  if (rest.compare(0, 2, "\\(") == 0 || rest.compare(0, 2, "\\[") == 0) {
    size_t close = rest.find(rest[1] == '(' ? "\\)" : "\\]", 2);
    if (close == std::string_view::npos) return std::nullopt;
    return std::string(trim_view(rest.substr(2, close - 2)));
  }
  size_t end = rest.find('\n');
  if (end == std::string_view::npos) end = rest.size();
  std::string_view line = rest.substr(0, end);
  // A sentence end: ". " (not a decimal point), or the end.
  for (size_t i = 0; i + 1 < line.size(); ++i) {
    if (line[i] == '.' && line[i + 1] == ' ') { line = line.substr(0, i); break; }
  }
  line = trim_view(line);
  while (!line.empty() && (line.back() == '.' || line.back() == '*')) line.remove_suffix(1);
  if (line.empty()) return std::nullopt;
  return std::string(line);
}

std::optional<std::string> answer_from_phrases(std::string_view text) {
  for (std::string_view phrase : {"final answer is", "the answer is", "answer:"}) {
    size_t k = rfind_nocase(text, phrase);
    if (k != std::string_view::npos) {
      auto answer = answer_after(text.substr(k + phrase.size()));
      if (answer) return answer;
    }
  }
  return std::nullopt;
}

std::optional<std::string> last_number(std::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    size_t i = end;
    while (i > 0 && !std::isdigit(static_cast<unsigned char>(text[i - 1]))) --i;
    if (i == 0) return std::nullopt;
    size_t stop = i;
    size_t start = i;
    while (start > 0 && (std::isdigit(static_cast<unsigned char>(text[start - 1])) || text[start - 1] == '.' ||
                         text[start - 1] == ',')) --start;
    while (start < stop && (text[start] == '.' || text[start] == ',')) ++start;
    if (start > 0 && text[start - 1] == '-') --start;
    return std::string(text.substr(start, stop - start));
  }
  return std::nullopt;
}

// The content of the last inline or display math span, $$..$$, \[..\], \(..\) or $..$ ("\$" is a
// literal dollar), trimmed of trailing punctuation: where Math-Verify's LaTeX extraction finds an
// answer that is not boxed ("Therefore $x \geq 5$ is the solution."). nullopt when there is none or
// when it is empty; an unterminated span is ignored (the last complete one stands).
std::optional<std::string> last_math_span(std::string_view text) {
  std::optional<std::string_view> last;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '\\' && i + 1 < text.size() && (text[i + 1] == '(' || text[i + 1] == '[')) {
      const char* close = text[i + 1] == '(' ? "\\)" : "\\]";
      size_t e = text.find(close, i + 2);
      if (e == std::string_view::npos) break;  // unterminated: the last complete span stands
      last = text.substr(i + 2, e - i - 2);
      i = e + 2;
      continue;
    }
    if (c == '\\') {  // an escaped character, "\$" included
      i += 2;
      continue;
    }
    if (c != '$') {
      ++i;
      continue;
    }
    const bool display = i + 1 < text.size() && text[i + 1] == '$';
    const size_t open = display ? 2 : 1;
    size_t e = std::string_view::npos;
    for (size_t j = i + open; j < text.size(); ++j) {
      if (text[j] == '\\') {
        ++j;
      } else if (text[j] == '$' && (!display || (j + 1 < text.size() && text[j + 1] == '$'))) {
        e = j;
        break;
      }
    }
    if (e == std::string_view::npos) break;  // unterminated: the last complete span stands
    last = text.substr(i + open, e - i - open);
    i = e + open;
  }
  if (!last) return std::nullopt;
  std::string_view t = trim_view(*last);
  while (!t.empty() && (t.back() == '.' || t.back() == ',' || t.back() == ';')) t = trim_view(t.substr(0, t.size() - 1));
  if (t.empty()) return std::nullopt;
  return std::string(t);
}

}  // namespace

std::optional<std::string> extract_math_answer(std::string_view completion, const MathExtractOptions& options) {
  std::string_view text = completion;
  bool in_tag = false;
  if (options.prefer_answer_tag && !options.answer_tag.empty()) {
    std::string open = "<" + options.answer_tag + ">", close = "</" + options.answer_tag + ">";
    size_t o = text.rfind(open);
    if (o != std::string_view::npos) {
      size_t c = text.find(close, o + open.size());
      if (c != std::string_view::npos) {
        text = text.substr(o + open.size(), c - o - open.size());
        in_tag = true;
      }
    }
  }
  bool had_box = false;
  if (auto boxed = answer_from_boxes(text, &had_box)) return boxed;
  if (had_box) return std::nullopt;  // unterminated or empty last box: no answer
  if (auto phrased = answer_from_phrases(text)) return phrased;
  if (in_tag) {
    std::string_view content = trim_view(text);
    if (content.empty()) return std::nullopt;
    return std::string(content);
  }
  if (options.fallback_last_math) {
    if (auto math = last_math_span(text)) return math;
  }
  if (options.fallback_last_number) return last_number(text);
  return std::nullopt;
}

std::optional<std::string> extract_gold_answer(std::string_view gold) {
  bool had_box = false;
  if (auto boxed = answer_from_boxes(gold, &had_box)) return boxed;
  std::string_view t = trim_view(gold);
  if (t.empty()) return std::nullopt;
  return std::string(t);
}

}  // namespace zeroth::rewards
