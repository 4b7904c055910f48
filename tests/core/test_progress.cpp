// Progress: duration/rate/ETA arithmetic by hand, and when plain (non-TTY) lines are emitted,
// driven by an injected clock (no sleeps).
#include "support/catch.h"

#include <thread>
#include <vector>

#include "zeroth/core/error.h"
#include "zeroth/core/progress.h"

using namespace zeroth;

namespace {

struct Recorder {
  double now = 100.0;  // any origin: only differences matter
  std::vector<std::string> lines;
  std::vector<bool> live;
  Progress::Clock clock() {
    return [this] { return now; };
  }
  Progress::Sink sink() {
    return [this](const std::string& line, bool is_live) {
      lines.push_back(line);
      live.push_back(is_live);
    };
  }
};

ProgressOptions plain(const std::string& label, int64_t total, const std::string& unit = "it") {
  ProgressOptions o;
  o.label = label;
  o.total = total;
  o.unit = unit;
  o.live = false;
  return o;
}

}  // namespace

TEST_CASE("format_duration: seconds, minutes, hours", "[core][progress]") {
  CHECK(format_duration(0) == "0.0s");
  CHECK(format_duration(0.44) == "0.4s");
  CHECK(format_duration(9.94) == "9.9s");
  CHECK(format_duration(12.4) == "12s");
  CHECK(format_duration(59.6) == "1m00s");
  CHECK(format_duration(245) == "4m05s");
  CHECK(format_duration(3723) == "1h02m03s");
  CHECK(format_duration(-5) == "0.0s");
}

TEST_CASE("progress_eta: remaining units at the average rate so far", "[core][progress]") {
  // 40 of 100 in 8 s: 5/s, 60 left -> 12 s.
  CHECK(progress_rate(40, 8.0) == Approx(5.0));
  REQUIRE(progress_eta(40, 100, 8.0).has_value());
  CHECK(*progress_eta(40, 100, 8.0) == Approx(12.0));
  // 3 of 7 in 1.5 s: 2/s, 4 left -> 2 s.
  CHECK(*progress_eta(3, 7, 1.5) == Approx(2.0));
  CHECK(*progress_eta(100, 100, 8.0) == 0.0);
  CHECK_FALSE(progress_eta(0, 100, 8.0).has_value());   // no rate yet
  CHECK_FALSE(progress_eta(10, 0, 8.0).has_value());    // unknown total
  CHECK_FALSE(progress_eta(10, 100, 0.0).has_value());  // no time measured
  CHECK(progress_rate(10, 0.0) == 0.0);
}

TEST_CASE("format_progress_line: count, percentage, rate, elapsed, ETA", "[core][progress]") {
  CHECK(format_progress_line("sampling", 40, 100, "prompts", 8.0) ==
        "sampling 40/100 (40%) 5.0 prompts/s elapsed 8.0s ETA 12s");
  // Percentages round down: 2/3 is 66%, not 67%, until it is really done.
  CHECK(format_progress_line("eval", 2, 3, "it", 4.0) == "eval 2/3 (66%) 0.500 it/s elapsed 4.0s ETA 2.0s");
  CHECK(format_progress_line("traces", 1500, 0, "traces", 10.0) == "traces 1500 traces 150 traces/s elapsed 10s");
  CHECK(format_progress_line("sft", 0, 10, "steps", 0.0) == "sft 0/10 (0%) elapsed 0.0s");
  CHECK(format_progress_line("sft", 10, 10, "steps", 125.0, true) == "sft 10/10 (100%) 0.080 steps/s done in 2m05s");
}

TEST_CASE("Progress plain mode: a line per 10% and per interval, one final line", "[core][progress]") {
  Recorder rec;
  ProgressOptions o = plain("sampling", 100);
  o.log_interval_s = 10.0;
  o.log_fraction = 0.1;
  Progress p(o, rec.clock(), rec.sink());
  REQUIRE_FALSE(p.live());

  for (int i = 0; i < 9; ++i) {  // 9 units in 0.9 s: no milestone, no interval yet
    rec.now += 0.1;
    p.advance();
  }
  CHECK(rec.lines.empty());
  rec.now += 0.1;
  p.advance();  // 10/100 after 1 s: the 10% milestone
  REQUIRE(rec.lines.size() == 1);
  CHECK(rec.lines[0] == "sampling 10/100 (10%) 10.0 it/s elapsed 1.0s ETA 9.0s");
  CHECK_FALSE(rec.live[0]);

  rec.now += 15.0;  // a slow unit: the interval passes before the 20% milestone
  p.advance();
  REQUIRE(rec.lines.size() == 2);
  CHECK(rec.lines[1] == "sampling 11/100 (11%) 0.688 it/s elapsed 16s ETA 2m09s");

  rec.now += 1.0;
  p.advance(35);  // 46/100: crosses 20%, 30%, 40% at once -> one line, next milestone 50
  REQUIRE(rec.lines.size() == 3);
  CHECK(rec.lines[2].rfind("sampling 46/100 (46%)", 0) == 0);
  p.advance(3);  // 49: nothing due
  CHECK(rec.lines.size() == 3);
  p.advance(1);  // 50
  CHECK(rec.lines.size() == 4);

  p.advance(50);  // 100: the last unit is left to finish(), which adds the total time
  CHECK(rec.lines.size() == 4);
  rec.now += 3.0;
  p.finish();
  REQUIRE(rec.lines.size() == 5);
  CHECK(rec.lines[4] == "sampling 100/100 (100%) 5.0 it/s done in 20s");
  p.finish();  // once only
  p.advance();
  CHECK(rec.lines.size() == 5);
  CHECK(p.done() == 100);
}

TEST_CASE("Progress plain mode without a total logs by interval only", "[core][progress]") {
  Recorder rec;
  ProgressOptions o = plain("traces", 0, "traces");
  o.log_interval_s = 5.0;
  {
    Progress p(o, rec.clock(), rec.sink());
    for (int i = 0; i < 12; ++i) {
      rec.now += 1.0;
      p.advance(10);
    }
    // Lines at t=5 (50 traces) and t=10 (100 traces).
    REQUIRE(rec.lines.size() == 2);
    CHECK(rec.lines[0] == "traces 50 traces 10.0 traces/s elapsed 5.0s");
    CHECK(rec.lines[1] == "traces 100 traces 10.0 traces/s elapsed 10s");
  }  // the destructor finishes
  REQUIRE(rec.lines.size() == 3);
  CHECK(rec.lines[2] == "traces 120 traces 10.0 traces/s done in 12s");
}

TEST_CASE("Progress live mode redraws at most every redraw interval and ends the line", "[core][progress]") {
  Recorder rec;
  ProgressOptions o = plain("sft epoch 1", 4, "steps");
  o.live = true;
  o.redraw_interval_s = 0.5;
  Progress p(o, rec.clock(), rec.sink());
  REQUIRE(p.live());
  rec.now += 0.2;
  p.advance();  // too soon
  CHECK(rec.lines.empty());
  rec.now += 0.4;
  p.advance();  // 0.6 s since start
  REQUIRE(rec.lines.size() == 1);
  CHECK(rec.live[0]);
  CHECK(rec.lines[0] == "sft epoch 1 2/4 (50%) 3.3 steps/s elapsed 0.6s ETA 0.6s");
  rec.now += 0.1;
  p.advance(2);  // reaching the total always redraws
  CHECK(rec.lines.size() == 2);
  p.finish();
  REQUIRE(rec.lines.size() == 3);
  CHECK(rec.lines[2].back() == '\n');
}

TEST_CASE("Progress::advance is thread-safe", "[core][progress]") {
  std::vector<std::string> lines;
  ProgressOptions o = plain("work", 8000);
  o.log_interval_s = 1e9;
  Progress p(o, [] { return 0.0; }, [&](const std::string& l, bool) { lines.push_back(l); });
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) p.advance();
    });
  for (auto& t : threads) t.join();
  CHECK(p.done() == 8000);
  p.finish();
  // 9 milestone lines (10%..90%) and the final one; the sink ran under the lock, so no torn vector.
  CHECK(lines.size() == 10);
}

TEST_CASE("Progress rejects a negative total", "[core][progress]") {
  REQUIRE_THROWS_WITH(Progress(plain("x", -1)), Catch::Contains("total must be >= 0"));
}
