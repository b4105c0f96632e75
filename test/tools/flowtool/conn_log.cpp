#include "conn_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "error.hpp"

namespace pepsal::flowtool {

ConnLog::ConnLog(const std::string& path)
    : fd_(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) {
    if (!fd_) throw_errno("open --log " + path);
}

void ConnLog::record(const Endpoint& peer, const ConnOutcome& out,
                     const std::string& status) const {
    if (!fd_) return;
    std::string line = "peer=" + peer.to_string() + " mode=" + out.mode +
                       " bytes=" + std::to_string(out.received) +
                       " sent=" + std::to_string(out.sent) +
                       (out.note.empty() ? "" : " " + out.note) + " " + status + "\n";
    // A short or failed write only loses a log line; the connection's outcome stands.
    [[maybe_unused]] ssize_t n = ::write(fd_.get(), line.data(), line.size());
}

}  // namespace pepsal::flowtool
