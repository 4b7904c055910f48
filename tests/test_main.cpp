// The one Catch2 main shared by every test executable: v2's CATCH_CONFIG_MAIN, or under v3 (whose
// library ships its main separately, as Catch2WithMain, not linked here) a Session.
#if __has_include(<catch2/catch_all.hpp>)
#include "support/catch.h"

int main(int argc, char* argv[]) { return Catch::Session().run(argc, argv); }
#else
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
#endif
