// The recipe runner: overrides, whole-recipe validation, the plan, and the run directory.
#include "zeroth/stages/recipe.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "stages/stage.h"
#include "zeroth/core/device.h"
#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"
#include "zeroth/core/output_dir.h"
#include "zeroth/core/safetensors.h"
#include "zeroth/model/config.h"
#include "zeroth/train/report.h"

namespace fs = std::filesystem;

namespace zeroth::stages {

namespace {

// The stage kinds: the recipe's "kind" and the factory that parses its object (one table; the error
// for an unknown kind lists it).
using StageFactory = std::unique_ptr<Stage> (*)(const JsonReader&, const RecipeSettings&);
struct StageKind {
  const char* name;
  StageFactory make;
};
const StageKind kStageKinds[] = {
    {"sft", make_sft_stage},
    {"grpo", make_grpo_stage},
    {"distill", make_distill_stage},
    {"eval", make_eval_stage},
};

std::unique_ptr<Stage> make_stage(const JsonReader& s, const std::string& kind, const RecipeSettings& settings) {
  std::vector<std::string> names;
  for (const StageKind& k : kStageKinds) {
    if (kind == k.name) return k.make(s, settings);
    names.push_back(k.name);
  }
  std::string listed;
  for (size_t i = 0; i < names.size(); ++i) listed += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  const std::string guess = did_you_mean(kind, names);
  s.fail(cat("kind: unknown stage kind ", quote(kind), "; expected ", listed,
             guess.empty() ? "" : "; did you mean " + quote(guess) + "?"));
  return nullptr;  // not reached: fail() throws
}

Json parse_override_value(const std::string& text) {
  try {
    return Json::parse(text);
  } catch (const std::exception&) {
    return Json(text);  // not JSON: a plain string
  }
}

struct Recipe {
  RecipeSettings settings;
  std::vector<std::unique_ptr<Stage>> stages;
};

// Builds every stage, collecting all errors before reporting them together.
Recipe build_recipe(const Json& json, const std::string& source) {
  JsonReader root(json, source);
  Recipe recipe;
  std::vector<std::string> errors;
  root.get_or<std::string>("name", "");
  root.get_or<std::string>("description", "");
  recipe.settings.seed = static_cast<uint64_t>(root.get_or<int64_t>("seed", 1));
  recipe.settings.device = root.get_or<std::string>("device", "cpu");
  recipe.settings.dtype = root.get_or<std::string>("dtype", "fp32");
  recipe.settings.threads = root.get_or<int>("threads", 0);
  if (recipe.settings.threads < 0) root.at("threads").fail(cat("expected 0 (all cores) or a positive count, got ", recipe.settings.threads));
  {
    // Checked for form only: a recipe written for GPUs still validates (and dry-runs) on a CPU machine.
    const std::string& d = recipe.settings.device;
    const bool ok = d == "cpu" || d == "cuda" ||
                    (d.rfind("cuda:", 0) == 0 && d.size() > 5 && d.find_first_not_of("0123456789", 5) == std::string::npos);
    if (!ok) root.fail(cat("device: expected \"cpu\", \"cuda\" or \"cuda:N\", got ", quote(d)));
  }
  try {
    parse_dtype(recipe.settings.dtype);
  } catch (const Error& e) {
    root.at("dtype").fail(e.what());
  }
  if (!root.has("stages")) root.fail("missing \"stages\": a recipe lists its stages");
  root.mark_used("stages");
  root.reject_unknown_keys();
  std::map<std::string, size_t> names;
  const auto items = root.at("stages").items();
  if (items.empty()) root.fail("stages: a recipe needs at least one stage");
  for (size_t i = 0; i < items.size(); ++i) {
    const JsonReader& s = items[i];
    try {
      s.json().is_object() || (s.fail(cat("expected a stage object, got ", json_type_name(s.json()))), true);
      const std::string kind = s.get<std::string>("kind");
      std::unique_ptr<Stage> stage = make_stage(s, kind, recipe.settings);
      stage->kind = kind;
      stage->name = s.get_or<std::string>("name", kind);
      if (stage->name.empty() || stage->name.find_first_of("/\\. ") != std::string::npos) {
        s.fail(cat("name: ", quote(stage->name), " must be non-empty without '/', '.', or spaces (it names a folder)"));
      }
      if (names.count(stage->name)) {
        s.fail(cat("name: ", quote(stage->name), " is already the name of stages[", names[stage->name],
                   "]; give one of them a \"name\""));
      }
      names[stage->name] = i;
      s.reject_unknown_keys();
      recipe.stages.push_back(std::move(stage));
    } catch (const Error& e) {
      errors.push_back(e.what());
      recipe.stages.push_back(nullptr);
      if (s.json().is_object()) {  // still resolvable by name, so later stages do not report it again
        const Json& j = s.json();
        std::string name = j.contains("name") && j["name"].is_string() ? j["name"].get<std::string>()
                           : j.contains("kind") && j["kind"].is_string() ? j["kind"].get<std::string>() : "";
        if (!name.empty() && !names.count(name)) names[name] = i;
      }
    }
  }
  // Resolve model references to earlier stages' outputs.
  for (size_t i = 0; i < recipe.stages.size(); ++i) {
    Stage* stage = recipe.stages[i].get();
    if (stage == nullptr) continue;
    for (ModelSource* source : stage->model_sources()) {
      if (source->reference.empty()) continue;
      const std::string& ref = source->reference;
      if (ref == "${previous}") {
        int64_t j = static_cast<int64_t>(i) - 1;
        while (j >= 0 && recipe.stages[j] && !recipe.stages[j]->produces_model()) --j;
        if (j >= 0 && !recipe.stages[j]) continue;  // that stage has its own error already
        if (j < 0) {
          errors.push_back(cat(source->where, ": \"${previous}\" but no earlier stage writes a model"));
          continue;
        }
        source->path = "${run}/" + recipe.stages[j]->name + "/model";
      } else {
        const std::string target = ref.substr(2, ref.size() - 3);
        auto it = names.find(target);
        if (it != names.end() && it->second < i && !recipe.stages[it->second]) continue;  // reported already
        if (it == names.end() || it->second >= i || !recipe.stages[it->second]->produces_model()) {
          errors.push_back(cat(source->where, ": ", ref, " names no earlier stage that writes a model"));
          continue;
        }
        source->path = "${run}/" + target + "/model";
      }
    }
  }
  if (!errors.empty()) {
    std::string message = cat(source, ": ", errors.size(), " error", errors.size() > 1 ? "s" : "", " in the recipe:");
    for (const auto& e : errors) message += "\n  " + e;
    throw Error(message);
  }
  return recipe;
}

std::string substitute_run(const std::string& path, const std::string& run_dir) {
  if (path.rfind("${run}/", 0) == 0) return run_dir + path.substr(6);
  return path;
}

// Files the stages need that are not here: (what, path). Paths inside the run are produced by
// earlier stages and are not checked.
std::vector<std::pair<std::string, std::string>> missing_inputs(const Recipe& recipe) {
  std::vector<std::pair<std::string, std::string>> missing;
  for (const auto& stage : recipe.stages) {
    std::vector<std::pair<std::string, std::string>> needed = stage->inputs();
    for (const ModelSource* source : stage->model_sources()) {
      const ModelSource& m = *source;
      if (m.is_init()) {
        needed.push_back({m.where + ": model config", m.init_config});
        needed.push_back({m.where + ": tokenizer directory", m.init_tokenizer});
      } else if (!m.path.empty() && m.path.rfind("${run}/", 0) != 0) {
        needed.push_back({m.where + ": model directory", m.path});
        if (fs::is_directory(m.path) && !fs::exists(fs::path(m.path) / "config.json")) {
          missing.push_back({m.where + ": a directory without config.json (not a Hugging Face model)", m.path});
        }
      }
    }
    for (const auto& [what, path] : needed) {
      if (!path.empty() && path.rfind("${run}/", 0) != 0 && !fs::exists(path)) missing.push_back({what, path});
    }
  }
  return missing;
}

// Every stage's data (first examples, prompt placeholders) and every model directory given by path
// (config.json and the safetensors headers) are read before the first stage starts: a bad stage-2
// input stops the run before stage 1 trains. All problems are reported together.
void check_stage_inputs(const Recipe& recipe, const std::string& source) {
  std::vector<std::string> problems;
  for (const auto& stage : recipe.stages) {
    try {
      stage->check_inputs();
    } catch (const Error& e) {
      problems.push_back(e.what());
    }
    for (const ModelSource* m : stage->model_sources()) {
      if (!m->is_init() && (m->path.empty() || m->path.rfind("${run}/", 0) == 0)) continue;
      try {
        if (m->is_init()) {
          model::parse_model_config(JsonReader::owning(load_json(m->init_config), m->init_config));
        } else {
          model::load_model_config(m->path);
          SafetensorsCheckpoint::open_dir(m->path);
        }
      } catch (const Error& e) {
        problems.push_back(cat(m->where, ": ", e.what()));
      }
    }
  }
  if (problems.empty()) return;
  std::string message = cat(source, ": ", problems.size(), " input", problems.size() > 1 ? "s are" : " is",
                            " not usable (nothing was run):");
  for (const auto& p : problems) message += "\n  " + p;
  throw Error(message);
}

// The run directory's state for `zeroth run`: a directory with zeroth's recipe.json and
// summary.json but no marker is a run of a version before the marker, and counts as zeroth's.
OutputDirState run_dir_state(const std::string& out) {
  const OutputDirState state = inspect_output_dir(out);
  if (state == OutputDirState::foreign && fs::is_regular_file(out + "/recipe.json") &&
      fs::is_regular_file(out + "/summary.json")) {
    return OutputDirState::ours;
  }
  return state;
}

const char* describe(OutputDirState state) {
  switch (state) {
    case OutputDirState::absent: return "new";
    case OutputDirState::empty: return "empty";
    case OutputDirState::ours: return "an earlier run's";
    case OutputDirState::foreign: return "holds files zeroth did not write: a real run needs --force";
  }
  return "";
}

Json read_summary(const std::string& path) {
  if (!fs::exists(path)) return Json{{"stages", Json::array()}};
  try {
    Json s = load_json(path);
    if (s.is_object() && s.contains("stages") && s["stages"].is_array()) return s;
  } catch (const Error& e) {
    spdlog::warn("{}: unreadable ({}); starting a new summary", path, e.what());
  }
  return Json{{"stages", Json::array()}};
}

Json* find_stage_entry(Json& summary, const std::string& name) {
  for (auto& s : summary["stages"]) {
    if (s.value("name", "") == name) return &s;
  }
  return nullptr;
}

void write_summary(const std::string& path, const Json& summary) { write_file_atomic(path, summary.dump(2) + "\n"); }

std::string format_figure(const Json& eval, const char* key) {
  if (!eval.is_object() || !eval.contains(key) || !eval[key].is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", eval[key].get<double>());
  return buf;
}

void print_table(const Json& summary) {
  std::cout << "\nstage            kind     status    seconds  accuracy  format_rate  mean_length\n";
  for (const auto& s : summary["stages"]) {
    const Json eval = s.value("eval", Json());
    char line[256];
    std::snprintf(line, sizeof line, "%-16s %-8s %-9s %7.1f  %-8s  %-11s  %s\n", s.value("name", "").c_str(),
                  s.value("kind", "").c_str(), s.value("status", "").c_str(), s.value("seconds", 0.0),
                  format_figure(eval, "accuracy").c_str(), format_figure(eval, "format_rate").c_str(),
                  format_figure(eval, "mean_length").c_str());
    std::cout << line;
  }
  std::cout.flush();
}

}  // namespace

Json apply_overrides(Json recipe, const std::vector<std::string>& sets, const std::string& source) {
  for (const auto& set : sets) {
    const size_t eq = set.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw Error(cat("--set ", quote(set), ": expected STAGE.KEY=VALUE (or KEY=VALUE for a top-level key)"));
    }
    std::string key = set.substr(0, eq);
    const Json value = parse_override_value(set.substr(eq + 1));
    std::vector<std::string> parts;
    for (size_t start = 0;;) {
      size_t dot = key.find('.', start);
      parts.push_back(key.substr(start, dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    Json* target = &recipe;
    size_t first = 0;
    if (parts.size() > 1 && recipe.contains("stages") && recipe["stages"].is_array()) {
      std::vector<std::string> stage_names;
      for (auto& stage : recipe["stages"]) {
        std::string name = stage.is_object() ? stage.value("name", stage.value("kind", "")) : "";
        stage_names.push_back(name);
        if (name == parts[0]) {
          target = &stage;
          first = 1;
          break;
        }
      }
      if (first == 0 && !recipe.contains(parts[0])) {
        std::string guess = did_you_mean(parts[0], stage_names);
        throw Error(cat("--set ", quote(set), ": ", source, " has no stage named ", quote(parts[0]),
                        guess.empty() ? "" : "; did you mean " + quote(guess) + "?"));
      }
    }
    for (size_t i = first; i + 1 < parts.size(); ++i) {
      if (!target->is_object()) throw Error(cat("--set ", quote(set), ": ", parts[i - 1], " is not an object"));
      target = &(*target)[parts[i]];
      if (target->is_null()) *target = Json::object();
    }
    if (!target->is_object()) throw Error(cat("--set ", quote(set), ": cannot set a key inside a non-object"));
    (*target)[parts.back()] = value;
  }
  return recipe;
}

int run_recipe(const RunOptions& options) {
  Json json = load_json(options.recipe);
  json = apply_overrides(std::move(json), options.sets, options.recipe);
  if (options.seed) json["seed"] = *options.seed;
  Recipe recipe = build_recipe(json, options.recipe);

  std::string out = options.out;
  if (out.empty()) out = "runs/" + fs::path(options.recipe).stem().string();
  auto missing = missing_inputs(recipe);
  const OutputDirState out_state = run_dir_state(out);

  if (options.dry_run) {
    std::cout << "recipe " << options.recipe << ": " << recipe.stages.size() << " stage"
              << (recipe.stages.size() > 1 ? "s" : "") << ", seed " << recipe.settings.seed << ", "
              << recipe.settings.device << ", " << recipe.settings.dtype << ", run directory " << out << " ("
              << describe(out_state) << ")\n";
    for (size_t i = 0; i < recipe.stages.size(); ++i) {
      const Stage& s = *recipe.stages[i];
      std::cout << "  " << i + 1 << ". " << s.name << " (" << s.kind << "): model "
                << substitute_run(s.model.describe(), out) << "; " << s.plan() << "\n";
    }
    if (missing.empty()) {
      std::cout << "all model and data paths are present\n";
    } else {
      std::cout << "absent here (a real run needs them):\n";
      for (const auto& [what, path] : missing) std::cout << "  " << what << ": " << path << "\n";
    }
    std::cout.flush();
    return 0;
  }
  if (!missing.empty()) {
    std::string message = cat(options.recipe, ": ", missing.size(), " input", missing.size() > 1 ? "s are" : " is",
                              " missing (nothing was run):");
    for (const auto& [what, path] : missing) message += cat("\n  ", what, ": ", path);
    throw Error(message);
  }
  check_stage_inputs(recipe, options.recipe);
  parse_device(recipe.settings.device);  // a CUDA device on a CPU build or machine: an error before anything is written

  // The run directory is claimed before any work, by rank 0 alone (the others would see its
  // marker half-written).
  const auto dist_options = train::DistributedOptions::from_env();
  if (dist_options.rank == 0) {
    if (out_state != OutputDirState::ours) check_output_dir(out, "--out", options.force);
    claim_output_dir(out, "run", "--out", /*force=*/true);
  }

  if (recipe.settings.threads > 0) torch::set_num_threads(recipe.settings.threads);
  // [dist] Data parallel under a launcher (RANK, WORLD_SIZE, ...): one CUDA device per local rank;
  // rank 0 alone writes recipe.json and summary.json.
  if (dist_options.world > 1 && parse_device(recipe.settings.device).is_cuda() &&
      recipe.settings.device.find(':') == std::string::npos) {  // "cuda" or "auto"
    recipe.settings.device = cat("cuda:", dist_options.local_rank);
  }
  train::Distributed dist(dist_options, parse_device(recipe.settings.device));
  fs::create_directories(out);
  if (dist.is_main()) write_file_atomic(out + "/recipe.json", json.dump(2) + "\n");
  const std::string summary_path = out + "/summary.json";
  Json summary = read_summary(summary_path);
  dist.barrier();  // [dist] every rank has read the summary before rank 0 rewrites it
  auto write_summary = [&](const std::string& path, const Json& s) {  // [dist]
    if (dist.is_main()) stages::write_summary(path, s);
  };
  // Keep the summary in recipe order, with one entry per stage.
  Json ordered = Json::array();
  for (const auto& s : recipe.stages) {
    Json* old = find_stage_entry(summary, s->name);
    ordered.push_back(old && old->value("kind", "") == s->kind ? *old
                                                                : Json{{"name", s->name}, {"kind", s->kind}, {"status", "pending"}});
  }
  summary["stages"] = ordered;
  write_summary(summary_path, summary);

  int code = 0;
  for (size_t i = 0; i < recipe.stages.size(); ++i) {
    Stage& stage = *recipe.stages[i];
    Json& entry = summary["stages"][i];
    const std::string dir = out + "/" + stage.name;
    for (ModelSource* source : stage.model_sources()) source->path = substitute_run(source->path, out);
    const bool done = entry.value("status", "") == "done" &&
                      (!stage.produces_model() || fs::exists(dir + "/model/config.json"));
    if (done && !options.force) {
      spdlog::info("stage {} ({}): finished in an earlier run; skipped (--force re-runs it)", stage.name, stage.kind);
      continue;
    }
    spdlog::info("stage {}/{}: {} ({}) -> {}", i + 1, recipe.stages.size(), stage.name, stage.kind, dir);
    fs::create_directories(dir);
    entry = Json{{"name", stage.name}, {"kind", stage.kind}, {"status", "running"}};
    write_summary(summary_path, summary);
    const auto start = std::chrono::steady_clock::now();
    StageContext context{out, dir, recipe.settings, options.resume, &dist};
    auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
    try {
      Json eval = stage.run(context);
      entry["status"] = "done";
      entry["seconds"] = seconds();
      if (!eval.is_null()) entry["eval"] = eval;
      write_summary(summary_path, summary);
      if (dist.is_main()) {
        try {
          train::write_run_report(out);  // kept current after every stage
        } catch (const std::exception& e) {
          spdlog::warn("report.html not written: {}", e.what());
        }
      }
    } catch (const std::exception& e) {
      entry["status"] = "failed";
      entry["seconds"] = seconds();
      entry["error"] = e.what();
      write_summary(summary_path, summary);
      spdlog::error("stage {} failed: {}", stage.name, e.what());
      code = 1;
      break;
    }
  }
  if (dist.is_main()) {  // [dist]
    try {
      train::write_run_report(out);
    } catch (const std::exception& e) {
      spdlog::warn("report.html not written: {}", e.what());
    }
    print_table(summary);
  }
  return code;
}

}  // namespace zeroth::stages
