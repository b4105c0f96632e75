#include "pipe.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <fstream>
#include <string>

#include "error.hpp"

namespace pepsal::proxy {

namespace {

// fs.pipe-max-size: the largest F_SETPIPE_SZ an unprivileged process may ask for; 0 if unknown.
size_t pipe_max_bytes() {
    std::ifstream in("/proc/sys/fs/pipe-max-size");
    size_t bytes = 0;
    in >> bytes;
    return in ? bytes : 0;
}

// F_SETPIPE_SZ; true on success, false when refused for lack of quota (EPERM) or kernel memory
// (ENOMEM: the slot array of a huge pipe), throws on anything else.
bool try_resize(int fd, size_t bytes) {
    if (fcntl(fd, F_SETPIPE_SZ, int(bytes)) >= 0) return true;
    if (errno == EPERM || errno == ENOMEM) return false;
    throw_errno("fcntl F_SETPIPE_SZ " + std::to_string(bytes));
}

void resize(int fd, size_t bytes) {
    if (bytes > size_t(INT_MAX)) bytes = INT_MAX;
    if (try_resize(fd, bytes)) return;
    // Over the limit for this user: the next best is the ceiling itself; failing that (quota
    // exhausted) the default size still works, only with more wake-ups per megabyte.
    size_t ceiling = pipe_max_bytes();
    if (ceiling > 0 && ceiling < bytes) try_resize(fd, ceiling);
}

}  // namespace

Pipe Pipe::create(size_t bytes) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) throw_errno("pipe2");
    UniqueFd read(fds[0]);
    UniqueFd write(fds[1]);
    if (bytes > 0) resize(write.get(), bytes);
    int capacity = fcntl(write.get(), F_GETPIPE_SZ);
    if (capacity < 0) throw_errno("fcntl F_GETPIPE_SZ");
    return Pipe(std::move(read), std::move(write), size_t(capacity));
}

}  // namespace pepsal::proxy
