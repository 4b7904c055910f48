// VerifierRegistry and the process-wide instance (function-local static: no static
// self-registration, see docs/style.md "How stages and reward rules register").
#include "zeroth/rewards/registry.h"

namespace zeroth::rewards {

std::optional<std::string> RewardInput::gold_text() const {
  if (!example || !example->is_object() || !example->contains("answer")) return std::nullopt;
  const Json& g = (*example)["answer"];
  if (g.is_null()) return std::nullopt;
  return g.is_string() ? g.get<std::string>() : g.dump();
}

void VerifierRegistry::add(const std::string& name, VerifierFactory factory) {
  ZEROTH_CHECK(!factories_.count(name), "verifier ", quote(name), " registered twice");
  factories_[name] = std::move(factory);
}

bool VerifierRegistry::has(const std::string& name) const { return factories_.count(name) > 0; }

std::vector<std::string> VerifierRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, factory] : factories_) out.push_back(name);
  return out;
}

std::unique_ptr<Verifier> VerifierRegistry::make(const std::string& name, const JsonReader& params) const {
  auto it = factories_.find(name);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& [n, f] : factories_) known += (known.empty() ? "" : ", ") + n;
    std::string suggestion = did_you_mean(name, names());
    throw Error(cat("unknown verifier ", quote(name), suggestion.empty() ? "" : "; did you mean " + quote(suggestion) + "?",
                    " (known: ", known, ")"));
  }
  if (!params.is_object()) params.fail(cat("expected an object of parameters, got ", json_type_name(params.json())));
  std::unique_ptr<Verifier> verifier = it->second(params);
  params.reject_unknown_keys();
  return verifier;
}

VerifierRegistry& verifier_registry_mutable() {
  static VerifierRegistry registry = [] {
    VerifierRegistry r;
    register_builtin_verifiers(r);
    return r;
  }();
  return registry;
}

const VerifierRegistry& verifier_registry() { return verifier_registry_mutable(); }

}  // namespace zeroth::rewards
