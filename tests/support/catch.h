// Catch2, v2 or v3, behind one include: v2 (Debian 12) ships one header, v3 (Debian 13, Ubuntu
// 24.04) a library with split headers and the matchers moved into Catch::Matchers. The tests use
// v2's spellings (Approx, Catch::Contains, Catch::StartsWith); under v3 they name the same things.
#pragma once

#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>

#include <string>

namespace Catch {
inline Matchers::StringContainsMatcher Contains(const std::string& s, CaseSensitive cs = CaseSensitive::Yes) {
  return Matchers::ContainsSubstring(s, cs);
}
using Matchers::StartsWith;
}  // namespace Catch
using Catch::Approx;
#define ZEROTH_CATCH_VERSION 3
#else
#include <catch2/catch.hpp>
#define ZEROTH_CATCH_VERSION 2
#endif
