// report.html: one self-contained page per run directory. Charts are drawn here, in C++, as
// inline SVG paths (no charting library, no network); the page's small script only checks that
// the charts rendered (for the browser test) and opens/closes sample groups.
// Run-directory contract: docs/architecture.md; figure names: the trainer's metrics.jsonl.
#include "zeroth/train/report.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"
#include "zeroth/train/tensorboard.h"

namespace zeroth::train {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Reading the run directory

JsonlLines read_jsonl_lines(const std::string& path) {
  std::string text = read_file(path);
  JsonlLines out;
  size_t start = 0, line_number = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    bool complete = end != std::string::npos;
    std::string line = text.substr(start, complete ? end - start : std::string::npos);
    start = complete ? end + 1 : text.size();
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Json value;
    try {
      value = parse_jsonl_line(line, cat(path, ":line ", line_number));
    } catch (const Error&) {
      if (!complete) {  // the writer has not finished this line yet
        out.partial_tail = true;
        break;
      }
      throw;
    }
    if (!value.is_object()) {
      throw Error(cat(path, ":line ", line_number, ": expected a JSON object, got ", json_type_name(value)));
    }
    out.lines.push_back(std::move(value));
    out.line_numbers.push_back(line_number);
  }
  return out;
}

namespace {

Json load_json_object(const std::string& path) {
  Json value = load_json(path);
  if (!value.is_object()) throw Error(cat(path, ": expected a JSON object, got ", json_type_name(value)));
  return value;
}

bool is_stage_dir(const fs::path& dir) {
  return fs::is_regular_file(dir / "metrics.jsonl") || fs::is_regular_file(dir / "samples.jsonl") ||
         fs::is_regular_file(dir / "eval.json");
}

void load_stage_files(const fs::path& dir, StageRun& stage) {
  fs::path metrics = dir / "metrics.jsonl", samples = dir / "samples.jsonl", eval = dir / "eval.json";
  if (fs::is_regular_file(metrics)) {
    JsonlLines m = read_jsonl_lines(metrics.string());
    for (size_t i = 0; i < m.lines.size(); ++i) {
      const Json& line = m.lines[i];
      if (!line.contains("step") || !line["step"].is_number()) {
        throw Error(cat(metrics.string(), ":line ", m.line_numbers[i], ": expected a numeric \"step\" (metrics.jsonl lines are "
                        "{\"step\": N, \"<figure>\": value, ...})"));
      }
    }
    stage.metrics = std::move(m.lines);
    stage.partial_tail = stage.partial_tail || m.partial_tail;
  }
  if (fs::is_regular_file(samples)) {
    JsonlLines s = read_jsonl_lines(samples.string());
    stage.samples = std::move(s.lines);
    stage.partial_tail = stage.partial_tail || s.partial_tail;
  }
  if (fs::is_regular_file(eval)) stage.eval = load_json_object(eval.string());
}

}  // namespace

RunData load_run(const std::string& run_dir) {
  if (!fs::exists(run_dir)) throw Error(cat(run_dir, ": run directory does not exist"));
  if (!fs::is_directory(run_dir)) throw Error(cat(run_dir, ": expected a run directory, got a file"));
  RunData run;
  run.dir = run_dir;
  fs::path root(run_dir);
  std::set<std::string> named;

  fs::path summary_path = root / "summary.json";
  if (fs::is_regular_file(summary_path)) {
    run.has_summary = true;
    JsonReader summary = JsonReader::owning(load_json_object(summary_path.string()), summary_path.string());
    JsonReader stages = summary.at("stages");
    if (!stages.is_array()) stages.fail(cat("expected an array of stages, got ", json_type_name(stages.json())));
    for (const JsonReader& s : stages.items()) {
      StageRun stage;
      stage.name = s.get<std::string>("name");
      if (stage.name.empty() || stage.name.find('/') != std::string::npos || stage.name == "." || stage.name == "..") {
        s.at("name").fail(cat("expected a stage folder name, got ", quote(stage.name)));
      }
      stage.kind = s.get_or<std::string>("kind", "");
      stage.status = s.get_or<std::string>("status", "running");
      stage.seconds = s.opt<double>("seconds");
      if (s.has("error") && s.json()["error"].is_string()) stage.error = s.json()["error"].get<std::string>();
      if (s.has("eval") && s.json()["eval"].is_object()) stage.eval = s.json()["eval"];
      named.insert(stage.name);
      run.stages.push_back(std::move(stage));
    }
  }
  std::vector<std::string> extra;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    std::string name = entry.path().filename().string();
    if (!named.count(name) && is_stage_dir(entry.path())) extra.push_back(name);
  }
  std::sort(extra.begin(), extra.end());
  for (const std::string& name : extra) {
    StageRun stage;
    stage.name = name;
    stage.status = "running";
    run.stages.push_back(std::move(stage));
  }
  if (!run.has_summary && run.stages.empty()) {
    throw Error(cat(run_dir, ": not a zeroth run directory: no summary.json and no <stage>/metrics.jsonl, "
                    "samples.jsonl or eval.json (expected the --out folder of `zeroth run`)"));
  }
  for (StageRun& stage : run.stages) {
    try {
      load_stage_files(root / stage.name, stage);
    } catch (Error& e) {
      e.add_context(cat("while reading stage ", quote(stage.name)));
      throw;
    }
  }
  fs::path recipe = root / "recipe.json";
  if (fs::is_regular_file(recipe)) run.recipe = load_json(recipe.string());
  return run;
}

// ---------------------------------------------------------------------------------------------
// HTML pieces

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      case '\t':
      case '\n':
      case '\r': out += c; break;
      default:
        if ((c >= 0 && c < 0x20) || c == 0x7f) {
          // Control characters from model text (NUL, ESC, BEL, ...) are shown, never embedded raw.
          static const char* const kHex = "0123456789abcdef";
          out += "\\x";
          out += kHex[(c >> 4) & 0xf];
          out += kHex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string highlight_format_tags(const std::string& text) {
  static const char* const kTags[] = {"think", "answer"};
  std::string out;
  std::vector<std::string> open;  // tags opened and not yet closed, innermost last
  size_t i = 0, plain_start = 0;
  auto flush_plain = [&](size_t end) { out += html_escape(text.substr(plain_start, end - plain_start)); };
  while (i < text.size()) {
    bool matched = false;
    if (text[i] == '<') {
      for (const char* tag : kTags) {
        std::string name(tag);
        bool closing = text.compare(i, name.size() + 3, "</" + name + ">") == 0;
        bool opening = !closing && text.compare(i, name.size() + 2, "<" + name + ">") == 0;
        if (!opening && !closing) continue;
        flush_plain(i);
        std::string literal = html_escape(closing ? "</" + name + ">" : "<" + name + ">");
        if (opening) {
          out += "<span class=\"fmt-" + name + "\"><span class=\"tag\">" + literal + "</span>";
          open.push_back(name);
        } else if (!open.empty() && open.back() == name) {
          out += "<span class=\"tag\">" + literal + "</span></span>";
          open.pop_back();
        } else {
          out += "<span class=\"tag tag-unbalanced\" title=\"no matching open tag\">" + literal + "</span>";
        }
        i += closing ? name.size() + 3 : name.size() + 2;
        plain_start = i;
        matched = true;
        break;
      }
    }
    if (!matched) ++i;
  }
  flush_plain(text.size());
  for (size_t k = 0; k < open.size(); ++k) out += "</span>";  // unclosed: close the spans, not the text
  return out;
}

namespace {

std::string fmt_number(double v) {
  if (!std::isfinite(v)) return "–";
  char buf[32];
  double a = std::fabs(v);
  if (a != 0 && (a < 1e-3 || a >= 1e6)) {
    std::snprintf(buf, sizeof buf, "%.3g", v);
  } else if (a >= 100 || v == std::floor(v)) {
    std::snprintf(buf, sizeof buf, "%.6g", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.4g", v);
  }
  return buf;
}

std::string fmt_json_cell(const Json& v) {
  if (v.is_number()) return fmt_number(v.get<double>());
  if (v.is_string()) return html_escape(v.get<std::string>());
  if (v.is_null()) return "–";
  return html_escape(v.dump(-1, ' ', false, Json::error_handler_t::replace));
}

std::string fmt_seconds(double s) {
  char buf[64];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.1f s", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600, (static_cast<int>(s) % 3600) / 60);
  }
  return buf;
}

const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};

std::string css_id(const std::string& text) {
  std::string out;
  for (char c : text) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  return out;
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return {lo};
  double raw = (hi - lo) / std::max(1, target);
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * magnitude;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::vector<std::pair<double, std::optional<double>>> decimate_min_max(
    const std::vector<std::pair<double, std::optional<double>>>& points, size_t buckets) {
  if (buckets == 0 || points.size() <= 2 * buckets) return points;
  std::vector<std::pair<double, std::optional<double>>> out;
  out.reserve(2 * buckets + 2);
  for (size_t b = 0; b < buckets; ++b) {
    size_t begin = points.size() * b / buckets, end = points.size() * (b + 1) / buckets;
    size_t lo = end, hi = end, gap = end;
    for (size_t i = begin; i < end; ++i) {
      const auto& v = points[i].second;
      if (!v || !std::isfinite(*v)) {
        if (gap == end) gap = i;
        continue;
      }
      if (lo == end || *v < *points[lo].second) lo = i;
      if (hi == end || *v > *points[hi].second) hi = i;
    }
    std::vector<size_t> keep;
    for (size_t i : {gap, lo, hi})
      if (i != end && std::find(keep.begin(), keep.end(), i) == keep.end()) keep.push_back(i);
    std::sort(keep.begin(), keep.end());
    for (size_t i : keep) out.push_back(points[i]);
  }
  return out;
}

std::string render_line_chart_svg(const std::string& title, const std::vector<ChartSeries>& series) {
  const double width = 460, height = 250, left = 58, right = 14, top = 12, bottom = 30;
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const ChartSeries& s : series) {
    for (const auto& [x, y] : s.points) {
      if (!y || !std::isfinite(*y)) continue;
      x_lo = std::min(x_lo, x);
      x_hi = std::max(x_hi, x);
      y_lo = std::min(y_lo, *y);
      y_hi = std::max(y_hi, *y);
    }
  }
  if (!std::isfinite(x_lo)) x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;
  if (x_hi == x_lo) x_lo -= 1, x_hi += 1;
  if (y_hi == y_lo) {
    double pad = y_lo == 0 ? 1.0 : std::fabs(y_lo) * 0.1;
    y_lo -= pad, y_hi += pad;
  } else {
    double pad = (y_hi - y_lo) * 0.05;
    y_lo -= pad, y_hi += pad;
  }
  std::vector<double> y_ticks = nice_ticks(y_lo, y_hi, 5), x_ticks = nice_ticks(x_lo, x_hi, 5);
  double plot_w = width - left - right, plot_h = height - top - bottom;
  auto px = [&](double x) { return left + (x - x_lo) / (x_hi - x_lo) * plot_w; };
  auto py = [&](double y) { return top + (1.0 - (y - y_lo) / (y_hi - y_lo)) * plot_h; };
  auto num = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return std::string(buf);
  };

  std::ostringstream svg;
  svg << "<svg class=\"chart\" viewBox=\"0 0 " << width << " " << height << "\" width=\"" << width << "\" height=\""
      << height << "\" role=\"img\" aria-label=\"" << html_escape(title) << "\">";
  svg << "<rect class=\"plot\" x=\"" << left << "\" y=\"" << top << "\" width=\"" << plot_w << "\" height=\"" << plot_h
      << "\"/>";
  for (double t : y_ticks) {
    if (t < y_lo || t > y_hi) continue;
    svg << "<line class=\"grid\" x1=\"" << left << "\" x2=\"" << width - right << "\" y1=\"" << num(py(t))
        << "\" y2=\"" << num(py(t)) << "\"/>";
    svg << "<text class=\"tick\" x=\"" << left - 4 << "\" y=\"" << num(py(t) + 4) << "\" text-anchor=\"end\">"
        << fmt_number(t) << "</text>";
  }
  for (double t : x_ticks) {
    if (t < x_lo || t > x_hi) continue;
    svg << "<line class=\"grid\" y1=\"" << top << "\" y2=\"" << top + plot_h << "\" x1=\"" << num(px(t))
        << "\" x2=\"" << num(px(t)) << "\"/>";
    svg << "<text class=\"tick\" y=\"" << top + plot_h + 14 << "\" x=\"" << num(px(t)) << "\" text-anchor=\"middle\">"
        << fmt_number(t) << "</text>";
  }
  svg << "<text class=\"axis-label\" x=\"" << left + plot_w / 2 << "\" y=\"" << height - 2
      << "\" text-anchor=\"middle\">step</text>";
  for (size_t i = 0; i < series.size(); ++i) {
    std::string d;
    bool pen_down = false;
    for (const auto& [x, y] : decimate_min_max(series[i].points, 1000)) {
      if (!y || !std::isfinite(*y)) {
        pen_down = false;
        continue;
      }
      d += (pen_down ? "L" : (d.empty() ? "M" : " M")) + num(px(x)) + "," + num(py(*y));
      if (!pen_down) d += "h0";  // a lone point still draws a dot (round line caps)
      pen_down = true;
    }
    svg << "<path class=\"series\" data-series=\"" << html_escape(series[i].name) << "\" stroke=\""
        << kPalette[i % 10] << "\" d=\"" << d << "\"><title>" << html_escape(series[i].name) << "</title></path>";
  }
  svg << "</svg>";
  std::ostringstream out;
  out << "<figure class=\"chart-box\"><figcaption>" << html_escape(title) << "</figcaption>" << svg.str()
      << "<div class=\"legend\">";
  for (size_t i = 0; i < series.size(); ++i) {
    const auto& pts = series[i].points;
    std::optional<double> last;
    for (auto it = pts.rbegin(); it != pts.rend() && !last; ++it) last = it->second;
    out << "<span><i style=\"background:" << kPalette[i % 10] << "\"></i>" << html_escape(series[i].name)
        << (last ? " <b>" + fmt_number(*last) + "</b>" : "") << "</span>";
  }
  out << "</div></figure>";
  return out.str();
}

// ---------------------------------------------------------------------------------------------
// The page

namespace {

struct ChartGroup {
  const char* title;
  std::vector<std::string> keys;  // exact figure names, in legend order
  const char* prefix;             // also every figure starting with this ("" for none)
};

// The trainer's figures (GRPO and SFT), grouped as people read a run. Figures not named here get
// a chart of their own, so a new figure shows up without a change to this table.
const std::vector<ChartGroup>& chart_groups() {
  static const std::vector<ChartGroup> groups = {
      {"Reward (mean, std, per component)", {"reward_mean", "reward_std"}, "reward/"},
      {"Accuracy and format rate", {"accuracy", "format_rate"}, ""},
      {"Loss", {"loss", "policy_loss"}, ""},
      {"KL to the reference", {"kl"}, ""},
      {"Entropy", {"entropy"}, ""},
      {"Clip fraction", {"clip_frac_low", "clip_frac_high"}, ""},
      {"Completion length (tokens)", {"completion_len_mean", "completion_len_max"}, ""},
      {"Truncation rate", {"truncation_rate"}, ""},
      {"Advantages", {"advantage_mean", "advantage_std", "frac_zero_std"}, ""},
      {"Step time breakdown (s)", {"time_sample", "time_reward", "time_train", "time_step"}, ""},
      {"Throughput (tokens/s)", {"sample_tokens_per_s", "train_tokens_per_s", "tokens_per_s"}, ""},
      {"Gradient norm", {"grad_norm"}, ""},
      {"Learning rate", {"lr"}, ""},
  };
  return groups;
}

// Figure name -> (step, value) in file order; nested objects flatten to "a/b".
void collect_figures(const Json& value, const std::string& prefix, double step,
                     std::map<std::string, std::vector<std::pair<double, std::optional<double>>>>& out,
                     std::vector<std::string>& order) {
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (prefix.empty() && it.key() == "step") continue;
      collect_figures(it.value(), prefix.empty() ? it.key() : prefix + "/" + it.key(), step, out, order);
    }
    return;
  }
  std::optional<double> v;
  if (value.is_number()) {
    v = value.get<double>();
  } else if (value.is_boolean()) {
    v = value.get<bool>() ? 1.0 : 0.0;
  } else if (!value.is_null()) {
    return;  // strings and arrays are not figures
  }
  if (!out.count(prefix)) order.push_back(prefix);
  out[prefix].emplace_back(step, v);
}

std::string render_charts(const StageRun& stage) {
  std::map<std::string, std::vector<std::pair<double, std::optional<double>>>> figures;
  std::vector<std::string> order;
  for (const Json& line : stage.metrics) collect_figures(line, "", line["step"].get<double>(), figures, order);
  std::set<std::string> used;
  std::ostringstream out;
  auto emit = [&](const std::string& title, const std::vector<std::string>& names) {
    std::vector<ChartSeries> series;
    for (const std::string& name : names) {
      bool any = false;
      for (const auto& p : figures[name]) any = any || (p.second && std::isfinite(*p.second));
      if (any) series.push_back({name, figures[name]});
      used.insert(name);
    }
    if (!series.empty()) out << render_line_chart_svg(title, series);
  };
  for (const ChartGroup& group : chart_groups()) {
    std::vector<std::string> names;
    for (const std::string& key : group.keys)
      if (figures.count(key)) names.push_back(key);
    if (*group.prefix) {
      for (const std::string& name : order)
        if (name.rfind(group.prefix, 0) == 0 && !used.count(name) &&
            std::find(names.begin(), names.end(), name) == names.end())
          names.push_back(name);
    }
    emit(group.title, names);
  }
  for (const std::string& name : order)
    if (!used.count(name)) emit(name, {name});
  return out.str();
}

std::string status_badge(const std::string& status) {
  std::string cls = status == "done" || status == "ok" || status == "finished" ? "ok"
                    : status == "failed"                                       ? "failed"
                                                                               : "running";
  return "<span class=\"badge " + cls + "\">" + html_escape(status) + "</span>";
}

std::string render_stage_table(const RunData& run) {
  std::ostringstream out;
  out << "<table class=\"stages\"><thead><tr><th>stage</th><th>kind</th><th>status</th><th>time</th>"
         "<th>steps logged</th><th>last step</th><th>samples</th></tr></thead><tbody>";
  for (const StageRun& s : run.stages) {
    out << "<tr><td><a href=\"#stage-" << css_id(s.name) << "\">" << html_escape(s.name) << "</a></td><td>"
        << html_escape(s.kind) << "</td><td>" << status_badge(s.status)
        << (s.error.empty() ? "" : " <span class=\"error\">" + html_escape(s.error) + "</span>") << "</td><td>"
        << (s.seconds ? fmt_seconds(*s.seconds) : "–") << "</td><td>" << s.metrics.size() << "</td><td>"
        << (s.metrics.empty() ? "–" : fmt_number(s.metrics.back()["step"].get<double>())) << "</td><td>"
        << s.samples.size() << "</td></tr>";
  }
  out << "</tbody></table>";
  return out.str();
}

std::string render_eval_table(const RunData& run) {
  std::vector<std::string> columns;
  for (const StageRun& s : run.stages) {
    if (!s.eval.is_object()) continue;
    for (auto it = s.eval.begin(); it != s.eval.end(); ++it)
      if (std::find(columns.begin(), columns.end(), it.key()) == columns.end()) columns.push_back(it.key());
  }
  if (columns.empty()) return "<p class=\"muted\">No stage has an evaluation yet (eval.json).</p>";
  std::ostringstream out;
  out << "<table class=\"eval\"><thead><tr><th>stage</th>";
  for (const std::string& c : columns) out << "<th>" << html_escape(c) << "</th>";
  out << "</tr></thead><tbody>";
  for (const StageRun& s : run.stages) {
    if (!s.eval.is_object()) continue;
    out << "<tr><td>" << html_escape(s.name) << "</td>";
    for (const std::string& c : columns) out << "<td>" << (s.eval.contains(c) ? fmt_json_cell(s.eval[c]) : "–") << "</td>";
    out << "</tr>";
  }
  out << "</tbody></table>";
  return out.str();
}

std::string text_of(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string render_samples(const StageRun& stage, const ReportOptions& options) {
  if (stage.samples.empty()) return "";
  size_t first = stage.samples.size() > options.max_samples ? stage.samples.size() - options.max_samples : 0;
  // step -> prompts in order of appearance -> completions
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::vector<const Json*>>>>> steps;
  for (size_t i = first; i < stage.samples.size(); ++i) {
    const Json& s = stage.samples[i];
    std::string step = s.contains("step") ? text_of(s["step"]) : "?";
    std::string prompt = s.contains("prompt") ? text_of(s["prompt"]) : "";
    if (steps.empty() || steps.back().first != step) steps.push_back({step, {}});
    auto& prompts = steps.back().second;
    auto it = std::find_if(prompts.begin(), prompts.end(), [&](const auto& p) { return p.first == prompt; });
    if (it == prompts.end()) {
      prompts.push_back({prompt, {}});
      it = prompts.end() - 1;
    }
    it->second.push_back(&s);
  }
  std::ostringstream out;
  out << "<section class=\"samples\"><h3>Sampled completions</h3><p class=\"muted\">";
  if (first > 0) out << "The last " << stage.samples.size() - first << " of " << stage.samples.size() << " samples. ";
  out << steps.size() << " step(s). <button type=\"button\" class=\"toggle-all\" data-open=\"1\">open all</button> "
      << "<button type=\"button\" class=\"toggle-all\" data-open=\"0\">close all</button></p>";
  for (size_t si = 0; si < steps.size(); ++si) {
    const auto& [step, prompts] = steps[si];
    size_t n = 0;
    double reward_sum = 0;
    size_t reward_n = 0;
    for (const auto& p : prompts)
      for (const Json* s : p.second) {
        ++n;
        if (s->contains("reward") && (*s)["reward"].is_number()) reward_sum += (*s)["reward"].get<double>(), ++reward_n;
      }
    out << "<details class=\"sample-step\"" << (si + 1 == steps.size() ? " open" : "") << "><summary>step "
        << html_escape(step) << " · " << prompts.size() << " prompt(s), " << n << " completion(s)"
        << (reward_n ? " · mean reward " + fmt_number(reward_sum / reward_n) : "") << "</summary>";
    for (const auto& [prompt, completions] : prompts) {
      out << "<div class=\"prompt\"><div class=\"label\">prompt</div><pre class=\"prompt-text\">" << html_escape(prompt)
          << "</pre>";
      const Json& first_s = *completions.front();
      if (first_s.contains("answer")) {
        out << "<div class=\"gold\">gold answer: <code>" << html_escape(text_of(first_s["answer"])) << "</code></div>";
      }
      std::vector<std::string> components;
      for (const Json* s : completions)
        if (s->contains("rewards") && (*s)["rewards"].is_object())
          for (auto it = (*s)["rewards"].begin(); it != (*s)["rewards"].end(); ++it)
            if (std::find(components.begin(), components.end(), it.key()) == components.end())
              components.push_back(it.key());
      out << "<table class=\"completions\"><thead><tr><th>#</th><th>reward</th><th>advantage</th>";
      for (const std::string& c : components) out << "<th>" << html_escape(c) << "</th>";
      out << "<th>completion</th></tr></thead><tbody>";
      for (size_t k = 0; k < completions.size(); ++k) {
        const Json& s = *completions[k];
        auto cell = [&](const char* key) { return s.contains(key) ? fmt_json_cell(s[key]) : std::string("–"); };
        out << "<tr><td>" << k << "</td><td>" << cell("reward") << "</td><td>" << cell("advantage") << "</td>";
        for (const std::string& c : components) {
          bool has = s.contains("rewards") && s["rewards"].is_object() && s["rewards"].contains(c);
          out << "<td>" << (has ? fmt_json_cell(s["rewards"][c]) : "–") << "</td>";
        }
        out << "<td><pre class=\"completion\">"
            << highlight_format_tags(s.contains("completion") ? text_of(s["completion"]) : "") << "</pre></td></tr>";
      }
      out << "</tbody></table></div>";
    }
    out << "</details>";
  }
  out << "</section>";
  return out.str();
}

const char* const kStyle = R"CSS(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
header{background:#1b1f24;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header .meta{color:#b8c0cc;font-size:12px}main{padding:8px 24px 40px}
h2{border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:28px}
table{border-collapse:collapse;background:#fff;margin:8px 0}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}.muted{color:#667}.error{color:#b42318}
.badge{border-radius:10px;padding:1px 8px;font-size:12px;color:#fff}.badge.ok{background:#2da44e}
.badge.failed{background:#cf222e}.badge.running{background:#bf8700}
.charts{display:flex;flex-wrap:wrap;gap:12px}
.chart-box{background:#fff;border:1px solid #d0d7de;border-radius:6px;margin:0;padding:8px}
.chart-box figcaption{font-weight:600;margin-bottom:4px}
svg.chart .plot{fill:#fff;stroke:#d0d7de}svg.chart .grid{stroke:#eef1f4}
svg.chart .tick,svg.chart .axis-label{font-size:10px;fill:#57606a}
svg.chart path.series{fill:none;stroke-width:1.6;stroke-linejoin:round;stroke-linecap:round}
.legend{font-size:12px;max-width:460px}.legend span{margin-right:12px;white-space:nowrap}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
details.sample-step{background:#fff;border:1px solid #d0d7de;border-radius:6px;margin:6px 0;padding:4px 10px}
details.sample-step>summary{cursor:pointer;font-weight:600}
.prompt{margin:10px 0;border-top:1px dashed #d0d7de;padding-top:6px}.label{font-size:11px;color:#667;text-transform:uppercase}
pre{white-space:pre-wrap;word-break:break-word;margin:0;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
pre.prompt-text{background:#f6f8fa;padding:6px}td pre.completion{max-width:900px}
.fmt-think{background:#eef4ff}.fmt-answer{background:#e6f6ea;font-weight:600}
.tag{color:#8250df;font-weight:700}.tag-unbalanced{color:#cf222e;text-decoration:wavy underline}
#report-status{font-size:11px;color:#667}pre.recipe{background:#fff;border:1px solid #d0d7de;padding:8px;max-height:400px;overflow:auto}
)CSS";

// Checks that every chart drew its series (the browser test reads #report-status from the DOM)
// and wires the open/close-all buttons. Plain ES5, no external code.
const char* const kScript = R"JS(
(function () {
  var paths = document.querySelectorAll('svg.chart path.series');
  var empty = 0, drawn = 0;
  for (var i = 0; i < paths.length; i++) {
    var d = paths[i].getAttribute('d') || '';
    if (d.replace(/\s/g, '') === '') { empty++; continue; }
    // A drawn series has extent; a lone point ("M x,y h0") is a dot of zero extent.
    var box = paths[i].getBBox();
    if (box.width > 0 || box.height > 0 || /h0$/.test(d)) drawn++;
  }
  var charts = document.querySelectorAll('svg.chart').length;
  var status = document.getElementById('report-status');
  var ok = empty === 0 && drawn === paths.length;
  status.setAttribute('data-status', ok ? 'ok' : 'error');
  status.textContent = (ok ? 'ok' : 'error') + ': ' + charts + ' charts, ' + paths.length + ' series, ' +
      drawn + ' drawn, ' + empty + ' empty';
  var buttons = document.querySelectorAll('button.toggle-all');
  for (var b = 0; b < buttons.length; b++) {
    buttons[b].addEventListener('click', function (event) {
      var open = event.target.getAttribute('data-open') === '1';
      var section = event.target.closest('section');
      var all = section.querySelectorAll('details.sample-step');
      for (var k = 0; k < all.length; k++) all[k].open = open;
    });
  }
})();
)JS";

std::string utc_now() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

}  // namespace

std::string render_report_html(const RunData& run, const ReportOptions& options, const std::string& generated_at) {
  std::string title = fs::path(run.dir).lexically_normal().filename().string();
  if (title.empty()) title = fs::path(run.dir).lexically_normal().parent_path().filename().string();
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      << "<title>zeroth run " << html_escape(title) << "</title><style>" << kStyle << "</style></head><body>\n";
  out << "<header><h1>zeroth run: " << html_escape(title) << "</h1><div class=\"meta\">" << html_escape(run.dir)
      << " · generated " << html_escape(generated_at.empty() ? utc_now() : generated_at) << " by zeroth "
      << ZEROTH_VERSION << (run.has_summary ? "" : " · no summary.json yet") << "</div></header>\n<main>\n";
  out << "<h2>Stages</h2>" << render_stage_table(run);
  out << "<h2>Evaluation</h2>" << render_eval_table(run) << "\n";
  for (const StageRun& stage : run.stages) {
    out << "<h2 id=\"stage-" << css_id(stage.name) << "\">Stage " << html_escape(stage.name)
        << (stage.kind.empty() ? "" : " <span class=\"muted\">(" + html_escape(stage.kind) + ")</span>") << " "
        << status_badge(stage.status) << "</h2>";
    if (stage.partial_tail) out << "<p class=\"muted\">A line was still being written; it is left out.</p>";
    if (stage.metrics.empty()) {
      out << "<p class=\"muted\">No metrics yet.</p>";
    } else {
      out << "<div class=\"charts\">" << render_charts(stage) << "</div>";
    }
    out << render_samples(stage, options) << "\n";
  }
  if (!run.recipe.is_null()) {
    out << "<h2>Recipe</h2><details><summary>recipe.json</summary><pre class=\"recipe\">"
        << html_escape(run.recipe.dump(2, ' ', false, Json::error_handler_t::replace)) << "</pre></details>";
  }
  out << "<p id=\"report-status\" data-status=\"pending\">charts not checked (scripts disabled?)</p>\n";
  out << "</main><script>" << kScript << "</script></body></html>\n";
  return out.str();
}

size_t export_tensorboard(const RunData& run, const std::string& out_dir) {
  size_t written = 0;
  for (const StageRun& stage : run.stages) {
    if (stage.metrics.empty() && stage.samples.empty()) continue;
    fs::path dir = fs::path(out_dir) / stage.name;
    if (fs::is_directory(dir)) {
      for (const auto& entry : fs::directory_iterator(dir))
        if (entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0) fs::remove(entry.path());
    }
    TensorBoardWriter writer(dir.string());
    for (const Json& line : stage.metrics) writer.add_scalars(line["step"].get<int64_t>(), line);
    // Samples come grouped by step in file order; one text event per step.
    std::vector<Json> group;
    auto flush_group = [&] {
      if (group.empty()) return;
      const Json& step = group.front()["step"];
      writer.add_text("samples", step.is_number() ? step.get<int64_t>() : 0, format_samples_markdown(group));
      group.clear();
    };
    for (const Json& s : stage.samples) {
      if (!group.empty() && s.value("step", Json()) != group.front().value("step", Json())) flush_group();
      group.push_back(s);
    }
    flush_group();
    ++written;
  }
  return written;
}

std::string write_run_report(const std::string& run_dir, const ReportOptions& options) {
  RunData run = load_run(run_dir);
  std::string path = (fs::path(run_dir) / "report.html").string();
  write_file_atomic(path, render_report_html(run, options));
  return path;
}

}  // namespace zeroth::train
