// VerifierRegistry: the names rule files may use ("math", "format", ...) and how to build each
// from its JSON params. Built-ins are listed once in src/rewards/builtin.cpp; a C++ verifier of
// your own registers with one call before the first rule set is loaded:
//
//   std::unique_ptr<Verifier> make_my_verifier(const JsonReader& params);
//   verifier_registry_mutable().add("my_rule", make_my_verifier);
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "zeroth/core/json.h"
#include "zeroth/rewards/verifier.h"

namespace zeroth::rewards {

// Builds a verifier from its "params" object. Read params through the reader (typed, with paths
// in errors); unknown keys are rejected after the factory returns.
using VerifierFactory = std::function<std::unique_ptr<Verifier>(const JsonReader& params)>;

class VerifierRegistry {
 public:
  // Registers `name`; a second registration of the same name is an error.
  void add(const std::string& name, VerifierFactory factory);
  bool has(const std::string& name) const;
  std::vector<std::string> names() const;
  // Builds a verifier; an unknown name throws an Error with a did-you-mean, and unknown params
  // keys are rejected with their JSON path.
  std::unique_ptr<Verifier> make(const std::string& name, const JsonReader& params) const;

 private:
  std::map<std::string, VerifierFactory> factories_;
};

// Adds every built-in verifier (src/rewards/builtin.cpp, the one list of what exists).
void register_builtin_verifiers(VerifierRegistry& registry);

// The process-wide registry with the built-ins (lazily built, thread-safe initialisation).
const VerifierRegistry& verifier_registry();
// The same registry for adding verifiers of your own at start-up (not concurrently with use).
VerifierRegistry& verifier_registry_mutable();

}  // namespace zeroth::rewards
