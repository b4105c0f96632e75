// Socket options pepsal applies to each side of a split flow.
#pragma once

#include <string>

#include "config.hpp"

namespace pepsal {

// True when a TCP socket accepts `name` as TCP_CONGESTION (as root the kernel loads the module).
bool congestion_usable(const std::string& name);

// Applies congestion control, buffer sizes, TCP_NODELAY and MSS from `o` to `fd`.
// Buffers use SO_*BUFFORCE when permitted so that a satellite-sized buffer is not silently
// clipped to net.core.*mem_max. Throws std::system_error naming the option and `what`.
void apply_side_options(int fd, const SideOptions& o, const std::string& what);

void set_nonblocking(int fd, bool on);
void set_int_option(int fd, int level, int name, int value, const char* option_name,
                    const std::string& what);

}  // namespace pepsal
