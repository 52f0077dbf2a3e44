// What `doctor --fix` changes on the machine, as root: each returns what went wrong, with errno.
#pragma once

#include <string>

#include "core/error.hpp"

namespace perfscope::system {

// Writes kernel.perf_event_paranoid through /proc/sys.
Status set_paranoid_level(int level);
// Writes a sysctl.d file that sets the level at every boot (atomically: a temporary, renamed).
Status persist_paranoid_level(int level, const std::string& conf_path);
// Mounts tracefs at /sys/kernel/tracing.
Status mount_tracefs();

}  // namespace perfscope::system
