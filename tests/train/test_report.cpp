// The run report: escaping and tag highlighting by hand, chart geometry by hand, run-directory
// reading (partial lines, missing files, bad JSON), the whole page over a synthetic run, and the
// `zeroth report` command.
#include "support/catch.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/paths.h"
#include "support/run_command.h"
#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"
#include "zeroth/train/report.h"
#include "zeroth/train/tensorboard.h"

using namespace zeroth;
using namespace zeroth::train;
using zeroth::testing::run_command;
using zeroth::testing::TempDir;
using zeroth::testing::zeroth_binary;

namespace {

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + needle.size())) ++n;
  return n;
}

// (step, value) == (x, y); a bool, because Catch cannot print std::optional here.
bool is_point(const std::pair<double, std::optional<double>>& p, double x, double y) {
  return p.first == x && p.second.has_value() && *p.second == y;
}

void append(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::app) << text;
}

// A two-stage run: "sft" finished with an eval, "grpo" still running (its metrics.jsonl ends in a
// half-written line). grpo logs the trainer's figures plus one unknown figure.
void make_run(const std::string& dir) {
  write_file_atomic(dir + "/summary.json", R"({"stages": [
    {"name": "sft", "kind": "sft", "status": "done", "seconds": 75.5,
     "eval": {"dataset": "countdown", "n": 64, "k": 4, "accuracy": 0.25, "format_rate": 0.875}},
    {"name": "grpo", "kind": "grpo", "status": "running"}]})");
  for (int step = 0; step < 5; ++step) {
    append(dir + "/sft/metrics.jsonl", "{\"step\": " + std::to_string(step) + ", \"loss\": " +
                                           std::to_string(2.0 - 0.25 * step) + ", \"lr\": 1e-5, \"grad_norm\": 1.5}\n");
  }
  write_file_atomic(dir + "/sft/eval.json",
                    R"({"dataset": "countdown", "n": 64, "k": 4, "accuracy": 0.25, "format_rate": 0.875, "mean_length": 120.5})");
  for (int step = 0; step < 4; ++step) {
    double s = step;
    Json line = {{"step", step},
                 {"reward_mean", 0.1 * s},
                 {"reward_std", 0.3},
                 {"reward/accuracy_mean", 0.05 * s},
                 {"reward/format_mean", 0.5 + 0.1 * s},
                 {"accuracy", 0.05 * s},
                 {"format_rate", 0.5 + 0.1 * s},
                 {"kl", step == 2 ? Json(nullptr) : Json(0.001 * s)},
                 {"entropy", 1.2},
                 {"clip_frac_low", 0.0},
                 {"clip_frac_high", 0.01},
                 {"completion_len_mean", 100 + 10 * s},
                 {"completion_len_max", 256},
                 {"truncation_rate", 0.1},
                 {"time_sample", 2.0},
                 {"time_reward", 0.1},
                 {"time_train", 1.5},
                 {"time_step", 3.6},
                 {"my_custom_figure", s * s}};
    append(dir + "/grpo/metrics.jsonl", line.dump() + "\n");
  }
  append(dir + "/grpo/metrics.jsonl", "{\"step\": 4, \"reward_me");  // being written
  Json sample = {{"step", 3},
                 {"prompt", "Use 3, 5 to make 8 & <show> work"},
                 {"completion", "<think>3+5=8</think><answer>3+5</answer><script>alert(1)</script>"},
                 {"rewards", {{"accuracy", 1.0}, {"format", 1.0}}},
                 {"reward", 2.0},
                 {"advantage", 0.866},
                 {"answer", "8"}};
  append(dir + "/grpo/samples.jsonl", sample.dump() + "\n");
  sample["completion"] = "no tags at all";
  sample["rewards"] = {{"accuracy", 0.0}, {"format", 0.0}};
  sample["reward"] = 0.0;
  sample["advantage"] = -0.866;
  append(dir + "/grpo/samples.jsonl", sample.dump() + "\n");
}

}  // namespace

TEST_CASE("html_escape: the five characters that matter", "[train][report]") {
  CHECK(html_escape("a<b>&\"c\"'d'") == "a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;");
  CHECK(html_escape("plain é") == "plain é");
}

TEST_CASE("html_escape: control characters from model text become visible escapes", "[train][report]") {
  CHECK(html_escape(std::string("a\0b\x1b[31m\a\x7f", 10)) == "a\\x00b\\x1b[31m\\x07\\x7f");
  CHECK(html_escape("tab\tnew\nline\r") == "tab\tnew\nline\r");  // layout characters stay
}

TEST_CASE("highlight_format_tags: escapes text, wraps tags, never leaves a span open", "[train][report]") {
  CHECK(highlight_format_tags("<think>1<2</think><answer>x</answer>") ==
        "<span class=\"fmt-think\"><span class=\"tag\">&lt;think&gt;</span>1&lt;2"
        "<span class=\"tag\">&lt;/think&gt;</span></span>"
        "<span class=\"fmt-answer\"><span class=\"tag\">&lt;answer&gt;</span>x"
        "<span class=\"tag\">&lt;/answer&gt;</span></span>");
  CHECK(highlight_format_tags("<script>alert('x')</script>") == "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
  // A stray closing tag is marked; an unclosed opening tag's span is closed at the end.
  std::string odd = highlight_format_tags("</answer> a <think> b");
  CHECK(odd ==
        "<span class=\"tag tag-unbalanced\" title=\"no matching open tag\">&lt;/answer&gt;</span> a "
        "<span class=\"fmt-think\"><span class=\"tag\">&lt;think&gt;</span> b</span>");
  for (const char* text : {"<think><answer></think></answer>", "<think><think>", "</think></think>", "<thinking>"}) {
    std::string h = highlight_format_tags(text);
    INFO(text << " -> " << h);
    CHECK(count(h, "<span") == count(h, "</span>"));
    CHECK(h.find("<think>") == std::string::npos);
  }
  CHECK(highlight_format_tags("<thinking>") == "&lt;thinking&gt;");
}

TEST_CASE("nice_ticks: steps of 1, 2 or 5 times a power of ten", "[train][report]") {
  auto t = nice_ticks(0.13, 0.87, 5);  // raw step 0.148 -> 0.2
  REQUIRE(t.size() == 4);
  CHECK(t[0] == Approx(0.2));
  CHECK(t[3] == Approx(0.8));
  t = nice_ticks(0, 100, 5);  // raw 20 -> 20
  REQUIRE(t.size() == 6);
  CHECK(t[5] == Approx(100));
  t = nice_ticks(-3, 2, 5);  // raw 1 -> 1: -3 .. 2, through 0
  REQUIRE(t.size() == 6);
  CHECK(t[3] == 0.0);
  t = nice_ticks(0, 0.0035, 5);  // raw 0.0007 -> 0.001
  REQUIRE(t.size() == 4);
  CHECK(t[3] == Approx(0.003));
  CHECK(nice_ticks(1, 1).size() == 1);
}

TEST_CASE("render_line_chart_svg: coordinates by hand, gaps start a new subpath", "[train][report]") {
  // Plot area: x 58..446 (width 388), y 12..220 (height 208). Steps 0..3; values 1..3 padded by
  // 5% of the range (0.1) -> 0.9..3.1.
  ChartSeries s{"kl", {{0, 1.0}, {1, 2.0}, {2, std::nullopt}, {3, 3.0}}};
  std::string svg = render_line_chart_svg("KL <to> ref", {s});
  // (0,1): x 58, y 12 + (1 - 0.1/2.2) * 208 = 210.545;  (1,2): x 58 + 388/3 = 187.333,
  // y 12 + (1 - 1.1/2.2) * 208 = 116;  (3,3): x 446, y 12 + (1 - 2.1/2.2) * 208 = 21.455.
  CHECK(svg.find("d=\"M58.0,210.5h0L187.3,116.0 M446.0,21.5h0\"") != std::string::npos);
  CHECK(count(svg, "<path class=\"series\"") == 1);
  CHECK(svg.find("KL &lt;to&gt; ref") != std::string::npos);
  CHECK(svg.find("<svg class=\"chart\"") != std::string::npos);
  // The legend shows the last value.
  CHECK(svg.find("kl <b>3</b>") != std::string::npos);
}

TEST_CASE("decimate_min_max: keeps each bucket's extremes and first gap, in step order", "[train][report]") {
  std::vector<std::pair<double, std::optional<double>>> points;
  for (int i = 0; i < 12; ++i) points.emplace_back(i, i % 4 == 1 ? 10.0 * i : static_cast<double>(i));
  // 12 points, 3 buckets of 4: [0 10 2 3] [4 50 6 7] [8 90 10 11] (spikes at 1, 5, 9).
  bool unchanged = decimate_min_max(points, 6) == points;  // 12 <= 2 * 6
  CHECK(unchanged);
  auto d = decimate_min_max(points, 3);
  REQUIRE(d.size() == 6);
  CHECK(is_point(d[0], 0.0, 0.0));
  CHECK(is_point(d[1], 1.0, 10.0));
  CHECK(is_point(d[2], 4.0, 4.0));
  CHECK(is_point(d[3], 5.0, 50.0));
  CHECK(is_point(d[4], 8.0, 8.0));
  CHECK(is_point(d[5], 9.0, 90.0));
  points[6].second = std::nullopt;  // a gap in the second bucket survives, at its place
  d = decimate_min_max(points, 3);
  REQUIRE(d.size() == 7);
  CHECK(d[2].first == 4.0);
  CHECK(d[3].first == 5.0);
  CHECK(d[4].first == 6.0);
  CHECK_FALSE(d[4].second.has_value());
  // A long series draws with about 2000 points, not 100000.
  std::vector<std::pair<double, std::optional<double>>> many;
  for (int i = 0; i < 100000; ++i) many.emplace_back(i, std::sin(i * 0.01));
  std::string svg = render_line_chart_svg("long", {ChartSeries{"sin", many}});
  CHECK(count(svg, "L") <= 2000);
  CHECK(count(svg, "L") >= 1900);
}

TEST_CASE("read_jsonl_lines: a half-written last line is dropped, other bad lines are errors", "[train][report]") {
  TempDir dir;
  std::string path = dir.file("m.jsonl");
  write_file_atomic(path, "{\"step\": 0}\n\n{\"step\": 1}\n{\"step\": 2, \"lo");
  JsonlLines r = read_jsonl_lines(path);
  CHECK(r.lines.size() == 2);
  CHECK(r.line_numbers == std::vector<size_t>{1, 3});
  CHECK(r.partial_tail);
  write_file_atomic(path, "{\"step\": 0}\n{\"step\": 1}");  // complete object, no newline yet: kept
  r = read_jsonl_lines(path);
  CHECK(r.lines.size() == 2);
  CHECK_FALSE(r.partial_tail);
  write_file_atomic(path, "{\"step\": 0}\n{\"step\": oops}\n{\"step\": 2}\n");
  REQUIRE_THROWS_WITH(read_jsonl_lines(path), Catch::Contains("m.jsonl:line 2"));
  write_file_atomic(path, "{\"step\": 0}\n[1, 2]\n");
  REQUIRE_THROWS_WITH(read_jsonl_lines(path), Catch::Contains("m.jsonl:line 2: expected a JSON object, got an array"));
}

TEST_CASE("load_run: stages from summary.json and from folders, clear errors", "[train][report]") {
  TempDir dir;
  REQUIRE_THROWS_WITH(load_run(dir.file("nope")), Catch::Contains("nope: run directory does not exist"));
  REQUIRE_THROWS_WITH(load_run(dir.path()), Catch::Contains("not a zeroth run directory"));

  make_run(dir.path());
  append(dir.file("distill/metrics.jsonl"), "{\"step\": 0, \"loss\": 1.0}\n");  // not in summary.json yet
  RunData run = load_run(dir.path());
  REQUIRE(run.stages.size() == 3);
  CHECK(run.stages[0].name == "sft");
  CHECK(run.stages[0].status == "done");
  REQUIRE(run.stages[0].seconds.has_value());
  CHECK(*run.stages[0].seconds == 75.5);
  CHECK(run.stages[0].metrics.size() == 5);
  CHECK(run.stages[0].eval["mean_length"] == 120.5);  // eval.json wins over the summary's copy
  CHECK(run.stages[1].name == "grpo");
  CHECK(run.stages[1].metrics.size() == 4);
  CHECK(run.stages[1].partial_tail);
  CHECK(run.stages[1].samples.size() == 2);
  CHECK(run.stages[1].eval.is_null());
  CHECK(run.stages[2].name == "distill");
  CHECK(run.stages[2].status == "running");

  write_file_atomic(dir.file("summary.json"), "{\"stages\": [\n  {\"name\": \"sft\",}\n]}");
  REQUIRE_THROWS_WITH(load_run(dir.path()), Catch::Contains("summary.json:2:") && Catch::Contains("invalid JSON"));
  write_file_atomic(dir.file("summary.json"), R"({"stages": [{"kind": "sft"}]})");
  REQUIRE_THROWS_WITH(load_run(dir.path()), Catch::Contains("summary.json: stages[0]") && Catch::Contains("name"));
  write_file_atomic(dir.file("summary.json"), R"({"stages": [{"name": "../etc"}]})");
  REQUIRE_THROWS_WITH(load_run(dir.path()), Catch::Contains("expected a stage folder name"));
  write_file_atomic(dir.file("summary.json"), R"({"stages": []})");
  append(dir.file("sft/metrics.jsonl"), "{\"loss\": 1.0}\n");
  REQUIRE_THROWS_WITH(load_run(dir.path()), Catch::Contains("sft/metrics.jsonl:line 6: expected a numeric \"step\"") &&
                                                Catch::Contains("while reading stage \"sft\""));
}

TEST_CASE("render_report_html: charts per figure group, eval table, escaped samples", "[train][report]") {
  TempDir dir;
  make_run(dir.path());
  std::string html = render_report_html(load_run(dir.path()), {}, "2026-01-01 00:00 UTC");
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.find("generated 2026-01-01 00:00 UTC") != std::string::npos);
  // Self-contained: no external resource of any kind.
  CHECK(html.find("http://") == std::string::npos);
  CHECK(html.find("https://") == std::string::npos);
  CHECK(html.find(" src=") == std::string::npos);

  // sft: Loss, Gradient norm, Learning rate (3). grpo: Reward, Accuracy and format, KL, Entropy,
  // Clip fraction, Completion length, Truncation rate, Step time, my_custom_figure (9).
  CHECK(count(html, "<svg class=\"chart\"") == 12);
  CHECK(count(html, "<path class=\"series\"") == 3 + 4 + 2 + 1 + 1 + 2 + 2 + 1 + 4 + 1);
  CHECK(html.find("data-series=\"reward/accuracy_mean\"") != std::string::npos);
  CHECK(html.find("<figcaption>my_custom_figure</figcaption>") != std::string::npos);
  CHECK(html.find("<figcaption>Step time breakdown (s)</figcaption>") != std::string::npos);
  CHECK(html.find("Advantages") == std::string::npos);  // no advantage figures: no empty chart
  // The KL gap at step 2 splits its path in two.
  auto kl = html.find("data-series=\"kl\"");
  REQUIRE(kl != std::string::npos);
  std::string kl_path = html.substr(kl, html.find("\">", html.find(" d=\"", kl)) - kl);
  CHECK(count(kl_path, "M") == 2);

  // Eval table: the sft row with eval.json's values.
  CHECK(html.find("<th>mean_length</th>") != std::string::npos);
  CHECK(html.find("<td>0.875</td>") != std::string::npos);
  CHECK(html.find("<td>120.5</td>") != std::string::npos);
  // Stage table: status badges, time, partial line note.
  CHECK(html.find("<span class=\"badge ok\">done</span>") != std::string::npos);
  CHECK(html.find("<span class=\"badge running\">running</span>") != std::string::npos);
  CHECK(html.find("1m15s") != std::string::npos);
  CHECK(html.find("A line was still being written") != std::string::npos);

  // Samples: one prompt group of two completions at step 3, escaped, tags highlighted.
  CHECK(html.find("step 3 · 1 prompt(s), 2 completion(s) · mean reward 1") != std::string::npos);
  CHECK(html.find("Use 3, 5 to make 8 &amp; &lt;show&gt; work") != std::string::npos);
  CHECK(html.find("<script>alert(1)") == std::string::npos);
  CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  CHECK(html.find("<span class=\"fmt-answer\"><span class=\"tag\">&lt;answer&gt;</span>3+5") != std::string::npos);
  CHECK(html.find("<td>-0.866</td>") != std::string::npos);
  CHECK(html.find("gold answer: <code>8</code>") != std::string::npos);
  // Exactly one script: the page's own check.
  CHECK(count(html, "<script>") == 1);
}

TEST_CASE("render_report_html: a failed stage shows its error, escaped, a stage with no files yet", "[train][report]") {
  TempDir dir;
  write_file_atomic(dir.file("summary.json"), R"({"stages": [
    {"name": "sft", "kind": "sft", "status": "failed", "seconds": 3, "error": "data/x.jsonl: line 3: expected <text>"},
    {"name": "grpo", "kind": "grpo", "status": "pending"}]})");
  RunData run = load_run(dir.path());  // no stage folder exists yet: summary.json alone is a run
  REQUIRE(run.stages.size() == 2);
  std::string html = render_report_html(run, {}, "now");
  CHECK(html.find("<span class=\"badge failed\">failed</span> <span class=\"error\">data/x.jsonl: line 3: expected "
                  "&lt;text&gt;</span>") != std::string::npos);
  CHECK(html.find("<span class=\"badge running\">pending</span>") != std::string::npos);
  CHECK(count(html, "No metrics yet.") == 2);
  CHECK(html.find("No stage has an evaluation yet") != std::string::npos);
  CHECK(count(html, "<svg class=\"chart\"") == 0);
}

TEST_CASE("render_report_html: max_samples keeps the most recent samples", "[train][report]") {
  TempDir dir;
  make_run(dir.path());
  for (int step = 4; step < 10; ++step)
    append(dir.file("grpo/samples.jsonl"), Json{{"step", step}, {"prompt", "p"}, {"completion", "c"}}.dump() + "\n");
  ReportOptions options;
  options.max_samples = 3;
  std::string html = render_report_html(load_run(dir.path()), options, "now");
  CHECK(html.find("The last 3 of 8 samples.") != std::string::npos);
  CHECK(html.find("<summary>step 7 ") != std::string::npos);
  CHECK(html.find("<summary>step 6 ") == std::string::npos);
  CHECK(count(html, "<details class=\"sample-step\"") == 3);
  CHECK(count(html, "<details class=\"sample-step\" open>") == 1);  // the latest
}

TEST_CASE("zeroth report writes RUN_DIR/report.html and names what is wrong with a bad run dir", "[train][report][cli]") {
  TempDir dir;
  make_run(dir.path());
  auto ok = run_command(zeroth_binary() + " report " + dir.path());
  INFO(ok.err);
  REQUIRE(ok.exit_code == 0);
  std::string html = read_file(dir.file("report.html"));
  CHECK(count(html, "<svg class=\"chart\"") == 12);
  CHECK(ok.out.empty());  // stdout stays clean
  CHECK_FALSE(std::filesystem::exists(dir.file("tensorboard")));
  auto tb = run_command(zeroth_binary() + " report --tensorboard " + dir.path());
  REQUIRE(tb.exit_code == 0);
  CHECK(std::filesystem::is_directory(dir.file("tensorboard/grpo")));
  CHECK(std::filesystem::is_directory(dir.file("tensorboard/sft")));

  auto missing = run_command(zeroth_binary() + " report " + dir.file("missing"));
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("missing: run directory does not exist") != std::string::npos);
  auto usage = run_command(zeroth_binary() + " report");
  CHECK(usage.exit_code == 2);

  append(dir.file("grpo/metrics.jsonl"), "\n{\"step\": 5}\n");  // completes the partial line badly
  auto bad = run_command(zeroth_binary() + " report " + dir.path());
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("grpo/metrics.jsonl:line 5") != std::string::npos);
}

TEST_CASE("export_tensorboard: one event file per stage, scalars at their steps, samples as text", "[train][report]") {
  TempDir dir;
  make_run(dir.path());
  RunData run = load_run(dir.path());
  std::string out = dir.file("tensorboard");
  for (int round = 0; round < 2; ++round) {  // a second export replaces the first
    REQUIRE(export_tensorboard(run, out) == 2);
    for (const char* stage : {"sft", "grpo"}) {
      size_t files = 0;
      for (const auto& e : std::filesystem::directory_iterator(out + "/" + stage)) files += e.is_regular_file();
      CHECK(files == 1);
    }
  }
  std::string grpo_file;
  for (const auto& e : std::filesystem::directory_iterator(out + "/grpo")) grpo_file = e.path().string();
  auto records = read_tfrecords(grpo_file);
  // file_version, 4 metrics lines, 1 text event for the samples of step 3.
  REQUIRE(records.size() == 6);
  CHECK(records[1].find("reward/accuracy_mean") != std::string::npos);
  CHECK(records[3].find("my_custom_figure") != std::string::npos);
  CHECK(records[3].find("kl") == std::string::npos);  // null at step 2: no scalar
  CHECK(records[5].find("samples") != std::string::npos);
  CHECK(records[5].find("<think>3+5=8</think>") != std::string::npos);
}
