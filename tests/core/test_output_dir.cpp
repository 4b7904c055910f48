// Output directories: what zeroth may write into, and the marker it leaves (core/output_dir.h).
#include "support/catch.h"

#include <filesystem>

#include "support/paths.h"
#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"
#include "zeroth/core/json.h"
#include "zeroth/core/output_dir.h"

using namespace zeroth;
using zeroth::testing::TempDir;
namespace fs = std::filesystem;

TEST_CASE("output dir: absent, empty and marked directories are writable, others need --force", "[core][output]") {
  TempDir dir;
  REQUIRE(inspect_output_dir(dir.file("new")) == OutputDirState::absent);
  REQUIRE(inspect_output_dir(dir.path()) == OutputDirState::empty);
  write_file_atomic(dir.file("photo.jpg"), "not zeroth's");
  REQUIRE(inspect_output_dir(dir.path()) == OutputDirState::foreign);
  REQUIRE_THROWS_WITH(check_output_dir(dir.path(), "--out", false),
                      Catch::Contains("--out " + dir.path()) && Catch::Contains("photo.jpg") && Catch::Contains("--force"));
  REQUIRE(check_output_dir(dir.path(), "--out", true) == OutputDirState::foreign);
  REQUIRE(read_file(dir.file("photo.jpg")) == "not zeroth's");

  // claim: creates the directory and its marker; a claimed directory is ours from then on.
  const std::string run = dir.file("runs/a");
  REQUIRE(claim_output_dir(run, "run", "--out", false) == OutputDirState::absent);
  REQUIRE(inspect_output_dir(run) == OutputDirState::ours);
  const Json marker = load_json(run + "/" + kOutputMarker);
  REQUIRE(marker["written_by"] == "zeroth");
  REQUIRE(marker["kind"] == "run");
  write_file_atomic(run + "/extra.txt", "user file");
  REQUIRE(claim_output_dir(run, "run", "--out", false) == OutputDirState::ours);
  REQUIRE(read_file(run + "/extra.txt") == "user file");

  // A file where a directory should be is an error even with force.
  REQUIRE_THROWS_WITH(check_output_dir(dir.file("photo.jpg"), "--out", true), Catch::Contains("not a directory"));
}

TEST_CASE("output dir: the marker's file list keeps plain names only", "[core][output]") {
  TempDir dir;
  write_output_marker(dir.path(), "model", {"config.json", "model.safetensors"});
  REQUIRE(output_marker_files(dir.path()) == std::vector<std::string>{"config.json", "model.safetensors"});
  // A hand-edited marker cannot point a later save outside the directory.
  write_file_atomic(dir.file(kOutputMarker),
                    R"({"written_by": "zeroth", "files": ["../../etc/passwd", "..", "", "a/b", "ok.json", 3]})");
  REQUIRE(output_marker_files(dir.path()) == std::vector<std::string>{"ok.json"});
  write_file_atomic(dir.file(kOutputMarker), "garbage");
  REQUIRE(output_marker_files(dir.path()).empty());
  REQUIRE(inspect_output_dir(dir.path()) == OutputDirState::ours);
}
