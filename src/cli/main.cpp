// The `zeroth` command: one CLI11 app, the subcommand table, and the one top-level catch.
// Exit codes: 0 success, 1 a user error (zeroth::Error, c10::Error) or failed JSONL lines,
// 2 a command-line usage error (unknown subcommand or flag, missing argument).
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include <c10/util/Exception.h>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "zeroth/core/cpu_isa.h"
#include "zeroth/core/device.h"
#include "zeroth/core/error.h"
#include "zeroth/core/log.h"

namespace zeroth::cli {

namespace {

std::function<void()>& parsed_action() {
  static std::function<void()> action;
  return action;
}

// The deepest subcommand that was given ("zeroth bench sampler" -> sampler).
const CLI::App* given_subcommand(const CLI::App& app) {
  const CLI::App* current = &app;
  for (;;) {
    auto given = current->get_subcommands();
    if (given.empty()) return current;
    current = given.front();
  }
}

// "did you mean --max-new-tokens?" for each unknown --flag of an ExtrasError (empty when none is close).
std::string flag_suggestions(const CLI::App& app, const std::string& message) {
  const CLI::App* sub = given_subcommand(app);
  std::vector<std::string> names;
  for (const CLI::App* a = sub; a != nullptr; a = a->get_parent()) {
    for (const CLI::Option* opt : a->get_options()) {
      for (const auto& n : opt->get_lnames()) names.push_back("--" + n);
    }
  }
  std::string out;
  const std::string marker = "expected: ";
  const size_t at = message.find(marker);
  if (at == std::string::npos) return out;
  std::istringstream words(message.substr(at + marker.size()));
  for (std::string word; words >> word;) {
    if (word.rfind("--", 0) != 0) continue;
    word = word.substr(0, word.find('='));
    const std::string guess = did_you_mean(word, names);
    if (!guess.empty()) out += cat("error: unknown flag ", word, "; did you mean ", guess, "?\n");
  }
  if (!out.empty() || sub == &app) return out;
  return cat("The flags of `zeroth ", sub->get_parent() && sub->get_parent() != &app ? sub->get_parent()->get_name() + " " : "",
             sub->get_name(), "` are listed by its --help.\n");
}

}  // namespace

void on_parsed(CLI::App* sub, std::function<void()> action) {
  sub->callback([action = std::move(action)] { parsed_action() = action; });
}

// [dist] The rank a launcher (torchrun, srun) gives this process; 0 when none.
int launcher_rank() {
  const char* r = std::getenv("RANK");
  return r != nullptr && *r != '\0' ? std::atoi(r) : 0;
}

}  // namespace zeroth::cli

int main(int argc, char** argv) {
  using namespace zeroth;
  std::string tuning = configure_process_for_speed();

  CLI::App app{"zeroth: DeepSeek-R1-style reasoning post-training (GRPO, SFT, distillation) on LibTorch.\n"
               "Run `zeroth SUBCOMMAND --help` for the flags of each subcommand."};
  app.name("zeroth");
  app.set_version_flag("--version", std::string("zeroth ") + ZEROTH_VERSION);
  std::string log_level;
  // Checked as soon as it is parsed, so a bad level is reported even when the rest of the line is
  // incomplete (CLI11 runs option callbacks before it checks required options).
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off (default: $ZEROTH_LOG_LEVEL or info)")
      ->each([](const std::string& level) { init_logging(level); });
  app.require_subcommand(1);
  app.fallthrough();

  cli::add_run_command(app);
  cli::add_report_command(app);
  cli::add_init_model_command(app);
  cli::add_generate_command(app);
  cli::add_score_command(app);
  cli::add_eval_command(app);
  cli::add_tokenize_command(app);
  cli::add_reward_command(app);
  cli::add_bench_command(app);

  app.parse_complete_callback([&] {
    init_logging(log_level, cli::launcher_rank());  // [dist] "[rank N]" lines; ranks > 0 log warnings and up
    spdlog::debug("start-up: {}", tuning);
  });

  // An unknown first word gets a did-you-mean instead of CLI11's "A subcommand is required".
  if (argc > 1 && argv[1][0] != '-') {
    std::vector<std::string> names;
    for (const CLI::App* sub : app.get_subcommands({})) names.push_back(sub->get_name());
    if (std::find(names.begin(), names.end(), argv[1]) == names.end()) {
      std::string suggestion = did_you_mean(argv[1], names);
      std::cerr << "error: unknown subcommand " << quote(argv[1])
                << (suggestion.empty() ? "" : "; did you mean " + quote(suggestion) + "?")
                << "\nRun `zeroth --help` for the list of subcommands.\n";
      return 2;
    }
  }

  try {
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      int code = app.exit(e);  // prints help, version or the usage error
      if (code != 0 && dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr) std::cerr << cli::flag_suggestions(app, e.what());
      return code == 0 ? 0 : 2;
    }
    // The command's work, after the whole line parsed (cli::on_parsed).
    check_cpu_isa_request();
    spdlog::debug("cpu kernels: {} path (this CPU's best: {})", cpu_isa_name(cpu_isa()), cpu_isa_name(detected_cpu_isa()));
    if (cli::parsed_action()) cli::parsed_action()();
  } catch (const zeroth::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
