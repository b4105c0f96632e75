// Detaching from the terminal without losing start-up errors.
#pragma once

#include <string>

#include "unique_fd.hpp"

namespace pepsal::connmgr {

// The daemon's end of a pipe to the foreground process that started it: that process waits
// until the daemon reports success or failure and exits with the matching status, so an init
// script learns about a bad start.
class StartupReport {
public:
    StartupReport() = default;
    explicit StartupReport(UniqueFd fd) : fd_(std::move(fd)) {}
    void ready();                          // the foreground process exits 0
    void failed(const std::string& why);   // it prints `why` and exits 1
    bool pending() const { return fd_.valid(); }

private:
    UniqueFd fd_;
};

// fork, setsid, fork again; the original process waits on the report and never returns.
// In the daemon: cwd /, umask 022, stdin/stdout/stderr on /dev/null. Throws std::system_error.
StartupReport daemonize();

// Writes the pid file (refusing if it names a live process) and removes it on destruction.
class PidFile {
public:
    explicit PidFile(std::string path);
    ~PidFile();
    PidFile(const PidFile&) = delete;
    PidFile& operator=(const PidFile&) = delete;

private:
    std::string path_;
};

}  // namespace pepsal::connmgr
