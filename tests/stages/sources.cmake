set(ZEROTH_TEST_stages_SOURCES
  stages/test_data.cpp
  stages/test_recipe.cpp
  stages/test_e2e.cpp
)
