// Output directories a user names: inspect, check, claim (see output_dir.h).
#include "zeroth/core/output_dir.h"

#include <algorithm>
#include <filesystem>

#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"
#include "zeroth/core/json.h"

namespace zeroth {
namespace fs = std::filesystem;

namespace {

// A plain file name: what a marker may list (never a path that leaves the directory).
bool plain_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos;
}

}  // namespace

OutputDirState inspect_output_dir(const std::string& dir) {
  std::error_code ec;
  const auto status = fs::symlink_status(dir, ec);
  if (ec || status.type() == fs::file_type::not_found) {
    if (ec && ec != std::errc::no_such_file_or_directory) throw Error(cat(dir, ": cannot inspect: ", ec.message()));
    return OutputDirState::absent;
  }
  if (!fs::is_directory(dir, ec)) throw Error(cat(dir, ": exists and is not a directory; choose a directory path"));
  fs::directory_iterator it(dir, ec);
  if (ec) throw Error(cat(dir, ": cannot read the directory: ", ec.message()));
  if (it == fs::directory_iterator()) return OutputDirState::empty;
  return fs::exists(fs::path(dir) / kOutputMarker, ec) ? OutputDirState::ours : OutputDirState::foreign;
}

OutputDirState check_output_dir(const std::string& dir, const std::string& flag, bool force) {
  const OutputDirState state = inspect_output_dir(dir);
  if (state != OutputDirState::foreign || force) return state;
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  std::string shown;
  for (size_t i = 0; i < names.size() && i < 3; ++i) shown += (i ? ", " : "") + quote(names[i], 40);
  if (names.size() > 3) shown += cat(" and ", names.size() - 3, " more");
  throw Error(cat(flag, " ", dir, ": the directory exists and holds files zeroth did not write (", shown,
                  "). zeroth writes only into a new or empty directory, or one it wrote before (it has ", kOutputMarker,
                  "). Choose another path, or pass --force to write zeroth's files into it: files of other names are "
                  "never touched, files of the names zeroth writes are replaced."));
}

OutputDirState claim_output_dir(const std::string& dir, const std::string& kind, const std::string& flag, bool force) {
  const OutputDirState state = check_output_dir(dir, flag, force);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(cat(flag, " ", dir, ": cannot create the directory: ", ec.message()));
  write_output_marker(dir, kind, output_marker_files(dir));
  return state;
}

void write_output_marker(const std::string& dir, const std::string& kind, const std::vector<std::string>& files) {
  Json marker{{"written_by", "zeroth"}, {"version", ZEROTH_VERSION}, {"kind", kind}, {"files", files}};
  write_file_atomic((fs::path(dir) / kOutputMarker).string(), marker.dump(2) + "\n");
}

std::vector<std::string> output_marker_files(const std::string& dir) {
  const fs::path path = fs::path(dir) / kOutputMarker;
  std::vector<std::string> files;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return files;
  const Json marker = Json::parse(read_file(path.string()), nullptr, /*allow_exceptions=*/false);
  if (!marker.is_object() || !marker.contains("files") || !marker["files"].is_array()) return files;
  for (const auto& f : marker["files"]) {
    if (f.is_string() && plain_name(f.get<std::string>())) files.push_back(f.get<std::string>());
  }
  return files;
}

}  // namespace zeroth
