#include "conn_table_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "unique_fd.hpp"

namespace pepsal::conn_table {

namespace {

struct ProcStat {
    char state = '?';
    uint64_t start_time = 0;
};

// Fields 3.. of /proc/PID/stat follow the last ')': the command name may itself hold spaces
// and parentheses.
std::optional<ProcStat> parse_stat(const char* text) {
    const char* p = std::strrchr(text, ')');
    if (!p || p[1] != ' ') return std::nullopt;
    p += 2;
    ProcStat st;
    st.state = *p;
    for (int field = 3; field < 22; ++field) {
        p = std::strchr(p, ' ');
        if (!p) return std::nullopt;
        ++p;
    }
    char* end = nullptr;
    errno = 0;
    unsigned long long start = std::strtoull(p, &end, 10);
    if (end == p || errno != 0) return std::nullopt;
    st.start_time = start;
    return st;
}

// std::nullopt with errno set when the file cannot be read.
std::optional<ProcStat> read_stat(pid_t pid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", int(pid));
    UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) return std::nullopt;
    char buf[1024];
    ssize_t n;
    do {
        n = ::read(fd.get(), buf, sizeof buf - 1);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        if (n == 0) errno = ENOENT;
        return std::nullopt;
    }
    buf[n] = '\0';
    auto st = parse_stat(buf);
    if (!st) errno = EINVAL;
    return st;
}

bool proc_mounted() {
    return ::access("/proc/self/stat", R_OK) == 0;
}

}  // namespace

uint64_t process_start_time(pid_t pid) {
    if (pid <= 0) return 0;
    auto st = read_stat(pid);
    return st ? st->start_time : 0;
}

bool process_alive(pid_t pid, uint64_t start_time) {
    if (pid <= 0) return false;
    // EPERM: it exists but belongs to someone else; that is alive.
    if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
    auto st = read_stat(pid);
    if (!st) {
        // It vanished between kill() and open(), unless there is no /proc to look at.
        if (errno == ENOENT || errno == ESRCH) return !proc_mounted();
        return true;
    }
    if (st->state == 'Z' || st->state == 'X') return false;
    return start_time == 0 || st->start_time == start_time;
}

}  // namespace pepsal::conn_table
