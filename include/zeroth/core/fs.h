// Small file-system helpers. Every write of a result goes through write_file_atomic: a crash or
// a full disk leaves either the old file or the new one, never a torn one.
#pragma once

#include <string>

namespace zeroth {

// Whole file as bytes; Error naming the path when it cannot be read.
std::string read_file(const std::string& path);

// Writes `content` to a temp file beside `path`, fsyncs it, renames it over `path`, and fsyncs
// the directory. Creates missing parent directories.
void write_file_atomic(const std::string& path, const std::string& content);

// Error naming `what` (e.g. "--model") unless `path` is an existing directory / regular file.
void require_directory(const std::string& path, const std::string& what);
void require_file(const std::string& path, const std::string& what);

// The folder of the running executable (from /proc/self/exe); empty when it cannot be known. Data
// that ships with zeroth (rule sets) is found relative to it, never through a compiled-in path.
std::string executable_dir();

}  // namespace zeroth
