# The rewards layer's libFuzzer target (clang only). Include from fuzz/CMakeLists.txt:
#   include(${PROJECT_SOURCE_DIR}/fuzz/rewards.cmake)
# It needs only the math engine sources (no LibTorch, no JSON), so it builds in seconds.
add_executable(fuzz_math_verifier
  ${PROJECT_SOURCE_DIR}/fuzz/fuzz_math_verifier.cpp
  ${PROJECT_SOURCE_DIR}/src/rewards/math/normalize.cpp
  ${PROJECT_SOURCE_DIR}/src/rewards/math/extract.cpp
  ${PROJECT_SOURCE_DIR}/src/rewards/math/parse.cpp
  ${PROJECT_SOURCE_DIR}/src/rewards/math/compare.cpp)
target_include_directories(fuzz_math_verifier PRIVATE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
target_compile_options(fuzz_math_verifier PRIVATE -g -O1 -fsanitize=fuzzer,address,undefined)
target_link_options(fuzz_math_verifier PRIVATE -fsanitize=fuzzer,address,undefined)
