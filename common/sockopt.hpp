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

// Makes any close of `fd` that the owner does not disarm first send an RST: a proxy process
// killed (SIGKILL, OOM) must not let the kernel end its flows with FINs that look like a clean,
// complete stream. A clean end calls disarm_reset_on_close() and then closes normally, which
// flushes any data still queued. Best effort: errors are ignored.
void arm_reset_on_close(int fd);
void disarm_reset_on_close(int fd);
void set_int_option(int fd, int level, int name, int value, const char* option_name,
                    const std::string& what);

}  // namespace pepsal
