#include "log.hpp"

#include <syslog.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace pepsal::log {

namespace {
// Logging configuration is per process and set once after each fork; it is the one piece of
// process-local state the house style tolerates besides the shared table.
struct State {
    const char* ident = "pepsal";
    bool syslog = false;
    Level max = Level::notice;
};
State& state() {
    static State s;
    return s;
}

int syslog_priority(Level l) {
    switch (l) {
        case Level::error: return LOG_ERR;
        case Level::warning: return LOG_WARNING;
        case Level::notice: return LOG_NOTICE;
        case Level::info: return LOG_INFO;
        case Level::debug: return LOG_DEBUG;
    }
    return LOG_INFO;
}

const char* level_name(Level l) {
    static const char* names[] = {"error", "warning", "notice", "info", "debug"};
    return names[int(l)];
}
}  // namespace

void init(const char* ident, bool use_syslog, Level max_level) {
    auto& s = state();
    if (s.syslog) closelog();
    s.ident = ident;
    s.syslog = use_syslog;
    s.max = max_level;
    if (use_syslog) openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

Level max_level() { return state().max; }

void write(Level level, const char* fmt, ...) {
    auto& s = state();
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s.syslog) {
        ::syslog(syslog_priority(level), "%s", msg);
        return;
    }
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm tmv{};
    localtime_r(&ts.tv_sec, &tmv);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%H:%M:%S", &tmv);
    // One fprintf per line so lines from concurrent processes do not interleave mid-line.
    fprintf(stderr, "%s.%03ld %s[%d] %s: %s\n", stamp, ts.tv_nsec / 1000000, s.ident, int(getpid()),
            level_name(level), msg);
}

}  // namespace pepsal::log
