// Leveled logging: stderr in the foreground, syslog once daemonized.
#pragma once

namespace pepsal::log {

enum class Level { error = 0, warning = 1, notice = 2, info = 3, debug = 4 };

// Process-wide logging setup. Called by main and again by each forked child so that syslog
// lines carry the child's role ("pepsal/queuer", "pepsal/worker").
void init(const char* ident, bool use_syslog, Level max_level);
Level max_level();

void write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace pepsal::log

#define PEP_LOG(level, ...)                                                     \
    do {                                                                        \
        if (::pepsal::log::Level::level <= ::pepsal::log::max_level())          \
            ::pepsal::log::write(::pepsal::log::Level::level, __VA_ARGS__);     \
    } while (0)
#define LOG_ERROR(...) PEP_LOG(error, __VA_ARGS__)
#define LOG_WARN(...) PEP_LOG(warning, __VA_ARGS__)
#define LOG_NOTICE(...) PEP_LOG(notice, __VA_ARGS__)
#define LOG_INFO(...) PEP_LOG(info, __VA_ARGS__)
#define LOG_DEBUG(...) PEP_LOG(debug, __VA_ARGS__)
