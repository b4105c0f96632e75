// The in-kernel buffer of one relay direction: splice() moves socket pages into a pipe and out
// again without copying them through user space.
#pragma once

#include <cstddef>

#include "unique_fd.hpp"

namespace pepsal::proxy {

class Pipe {
public:
    // pipe2(O_CLOEXEC | O_NONBLOCK), then F_SETPIPE_SZ to `bytes` (0: keep the kernel default).
    // When the kernel refuses the size with EPERM (above fs.pipe-max-size, or the user's pipe
    // quota is spent) or ENOMEM, the largest size it allows is used instead, silently. Throws
    // std::system_error naming the call on any other failure.
    static Pipe create(size_t bytes);

    int read_end() const { return read_.get(); }
    int write_end() const { return write_.get(); }
    // What F_GETPIPE_SZ reports: the most one splice into an empty pipe can take.
    size_t capacity_bytes() const { return capacity_; }

private:
    Pipe(UniqueFd read, UniqueFd write, size_t capacity)
        : read_(std::move(read)), write_(std::move(write)), capacity_(capacity) {}

    UniqueFd read_;
    UniqueFd write_;
    size_t capacity_;
};

}  // namespace pepsal::proxy
