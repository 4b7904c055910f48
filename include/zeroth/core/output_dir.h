// Output directories a user names (`init-model --out`, `run --out`, `bench train --dir`): zeroth
// writes into a directory only when it does not exist, is empty, or holds the marker file
// `.zeroth-output.json` that zeroth leaves in every directory it creates. Anything else is the
// user's: a clear error names the path and `--force`. Even with --force zeroth replaces only the
// files it writes itself and never removes anything else (no remove_all on a user path).
#pragma once

#include <string>
#include <vector>

namespace zeroth {

// The marker: {"written_by": "zeroth", "version": ..., "kind": "model" | "run" | ..., "files": [...]}.
inline constexpr const char* kOutputMarker = ".zeroth-output.json";

enum class OutputDirState {
  absent,   // nothing at the path
  empty,    // an empty directory
  ours,     // a directory with zeroth's marker
  foreign,  // a directory with other content and no marker
};

// What is at `dir`. Error when it exists and is not a directory (a file, a dangling link, ...).
OutputDirState inspect_output_dir(const std::string& dir);

// Error unless zeroth may write into `dir`: absent, empty or ours; a foreign directory only with
// `force`. `flag` names the option the path came from ("--out") for the message.
OutputDirState check_output_dir(const std::string& dir, const std::string& flag, bool force);

// check_output_dir, then creates `dir` if needed and writes the marker (keeping the file list of
// an existing one). Returns the state it found.
OutputDirState claim_output_dir(const std::string& dir, const std::string& kind, const std::string& flag, bool force);

// Writes the marker of `dir` with `kind` and the names of the files zeroth wrote there.
void write_output_marker(const std::string& dir, const std::string& kind, const std::vector<std::string>& files);

// The "files" list of dir's marker (empty when there is no marker or it lists none).
std::vector<std::string> output_marker_files(const std::string& dir);

}  // namespace zeroth
