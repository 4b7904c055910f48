// RuleSet: loading rewards/*.json and scoring (one completion, or a batch on a thread pool).
// File format (documented in README.md, "Rewards: verifiers and rule sets"):
//   {"name": "...", "description": "...",
//    "components": [{"name": "accuracy", "verifier": "math", "weight": 1.0, "params": {...}}, ...]}
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

#include "zeroth/core/fs.h"
#include "zeroth/rewards/registry.h"
#include "zeroth/rewards/rule_set.h"

namespace zeroth::rewards {

RuleSet RuleSet::from_json(const Json& json, const std::string& source) {
  JsonReader root(json, source);
  if (!root.is_object()) root.fail(cat("expected a rule set object {\"name\", \"components\": [...]}, got ", json_type_name(json)));
  RuleSet rules;
  rules.name_ = root.get_or<std::string>("name", std::filesystem::path(source).stem().string());
  root.get_or<std::string>("description", "");
  JsonReader components = root.at("components");
  if (!components.is_array() || components.size() == 0) components.fail("expected a non-empty array of components");
  std::set<std::string> seen;
  for (const JsonReader& c : components.items()) {
    if (!c.is_object()) c.fail(cat("expected a component object, got ", json_type_name(c.json())));
    RuleComponent component;
    component.name = c.get<std::string>("name");
    if (!seen.insert(component.name).second) c.at("name").fail(cat("duplicate component name ", quote(component.name)));
    component.verifier = c.get<std::string>("verifier");
    component.weight = c.get_or<double>("weight", 1.0);
    Json empty = Json::object();
    try {
      if (c.has("params")) {
        component.impl = verifier_registry().make(component.verifier, c.at("params"));
      } else {
        component.impl = verifier_registry().make(component.verifier, JsonReader(empty, source, c.child_path("params")));
      }
    } catch (Error& e) {
      if (e.message().find(source) == std::string::npos) e.add_context(c.where("verifier"));
      throw;
    }
    c.reject_unknown_keys();
    rules.components_.push_back(std::move(component));
  }
  root.reject_unknown_keys();
  return rules;
}

RuleSet RuleSet::from_file(const std::string& path) {
  try {
    return from_json(load_json(path), path);
  } catch (Error& e) {
    if (e.message().find(path) == std::string::npos) e.add_context("while loading reward rules " + path);
    throw;
  }
}

std::vector<std::string> RuleSet::search_dirs() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("ZEROTH_REWARDS_DIR")) dirs.push_back(env);
  dirs.push_back("rewards");
  // Beside the executable: the build folder's copy (CMake copies rewards/ into it; test executables
  // sit one folder below), then an installed tree (<prefix>/bin/zeroth, <prefix>/share/zeroth).
  const std::string exe_dir = executable_dir();
  if (!exe_dir.empty()) {
    dirs.push_back(exe_dir + "/rewards");
    dirs.push_back(exe_dir + "/../rewards");
    dirs.push_back(exe_dir + "/../share/zeroth/rewards");
  }
  return dirs;
}

RuleSet RuleSet::load(const std::string& name_or_path) {
  namespace fs = std::filesystem;
  bool looks_like_path = name_or_path.find('/') != std::string::npos ||
                         (name_or_path.size() > 5 && name_or_path.substr(name_or_path.size() - 5) == ".json");
  if (looks_like_path || fs::is_regular_file(name_or_path)) return from_file(name_or_path);
  std::vector<std::string> names;
  for (const std::string& dir : search_dirs()) {
    std::string candidate = dir + "/" + name_or_path + ".json";
    if (fs::is_regular_file(candidate)) return from_file(candidate);
    std::error_code ec;
    if (fs::is_directory(dir, ec)) {
      for (const auto& entry : fs::directory_iterator(dir, ec))
        if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
    }
  }
  std::string suggestion = did_you_mean(name_or_path, names);
  std::string searched;
  for (const std::string& dir : search_dirs()) searched += (searched.empty() ? "" : ", ") + dir;
  throw Error(cat("no reward rule set named ", quote(name_or_path),
                  suggestion.empty() ? "" : "; did you mean " + quote(suggestion) + "?", " (searched ", searched,
                  "; pass a path to a .json file, or set ZEROTH_REWARDS_DIR)"));
}

RewardResult RuleSet::score(const RewardInput& input) const {
  static const Json kEmpty = Json::object();
  RewardInput in = input;
  if (!in.example) in.example = &kEmpty;
  std::map<std::string, std::optional<double>> previous;
  in.previous = &previous;
  RewardResult result;
  result.components.reserve(components_.size());
  for (const RuleComponent& c : components_) {
    std::optional<double> value = c.impl->score(in);
    result.components.emplace_back(c.name, value);
    if (value) result.total += c.weight * *value;
    if (components_.size() > 1) previous[c.name] = value;
  }
  return result;
}

std::vector<RewardResult> RuleSet::score_batch(const std::vector<RewardInput>& inputs, int num_threads) const {
  std::vector<RewardResult> results(inputs.size());
  size_t threads = num_threads > 0 ? static_cast<size_t>(num_threads) : std::max(1u, std::thread::hardware_concurrency());
  threads = std::min(threads, std::max<size_t>(1, inputs.size() / 8));
  if (threads <= 1) {
    for (size_t i = 0; i < inputs.size(); ++i) results[i] = score(inputs[i]);
    return results;
  }
  // Work sharing over an atomic index: each worker takes the next unscored input.
  std::atomic<size_t> next{0};
  std::exception_ptr failure;
  std::atomic<bool> failed{false};
  auto worker = [&] {
    try {
      for (size_t i = next++; i < inputs.size() && !failed; i = next++) results[i] = score(inputs[i]);
    } catch (...) {
      if (!failed.exchange(true)) failure = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 0; t + 1 < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
  return results;
}

Json RuleSet::components_json(const RewardResult& result) {
  Json out = Json::object();
  for (const auto& [name, value] : result.components) out[name] = value ? Json(*value) : Json(nullptr);
  return out;
}

}  // namespace zeroth::rewards
