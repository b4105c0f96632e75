// `pepsal --status`: what a running instance's connection table holds.
#pragma once

#include <iosfwd>

#include "config.hpp"

namespace pepsal::connmgr {

// Attaches to the table named by config.shm_name and prints its counters and one line per
// flow. Returns the exit status (1 when no instance is running).
int print_status(const Config& config, std::ostream& out);

}  // namespace pepsal::connmgr
