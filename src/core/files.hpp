// Small, exact helpers for reading procfs/sysfs/tracefs files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace perfscope {

// Whole file as text. The Error carries errno (ENOENT, EACCES) so callers can tell absent from
// denied.
Result<std::string> read_text_file(const std::string& path);
// First line of the file, trimmed, parsed as a signed decimal integer.
Result<long long> read_int_file(const std::string& path);
// Names in a directory, sorted, without "." and "..".
Result<std::vector<std::string>> list_directory(const std::string& path);
bool path_exists(const std::string& path);
// The target of a symbolic link (/proc/PID/exe, /proc/PID/root), empty when it cannot be read.
std::string read_link(const std::string& path);
// `name` as execvp would find it: itself when it holds a '/', else the first executable
// DIR/name along $PATH (an empty entry is the current directory); empty when there is none.
std::string find_on_path(const std::string& name);
// A numeric field of /proc/PID/status ("Uid:" gives the real uid, "Tgid:" the process id), or -1.
long proc_status_field(long pid, const char* field);
// True while process `pid` exists and is not a zombie (from /proc/PID/stat).
bool process_running(long pid);

}  // namespace perfscope
