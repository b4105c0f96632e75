// Private to the connection table: is the process that wrote a pid into the table still alive?
// A pid alone is not enough (pids are reused), so a process is identified by its pid and its
// start time, field 22 of /proc/PID/stat.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace pepsal::conn_table {

// Start time of `pid` in clock ticks since boot; 0 if it does not exist or /proc is unreadable.
uint64_t process_start_time(pid_t pid);

// False when `pid` does not exist, is a zombie (it has exited; only its parent's waitpid()
// is pending), or was started at another time than `start_time` (its pid was reused).
// `start_time` 0 means unknown: only existence is checked. When /proc is not mounted the
// answer rests on kill(pid, 0) alone.
bool process_alive(pid_t pid, uint64_t start_time);

}  // namespace pepsal::conn_table
