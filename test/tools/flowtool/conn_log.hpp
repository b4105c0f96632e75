// The server's --log file: one line per finished connection, e.g.
//     peer=10.99.0.1:40000 mode=upload bytes=1000 sent=0 ok
// Tests read `peer=` to see which address the server saw (a split flow shows the proxy's);
// it is the only ADDR:PORT on the line, so `sed 's/.*peer=\(.*\):[0-9]* .*/\1/'` finds it.
#pragma once

#include <string>

#include "endpoint.hpp"
#include "server_modes.hpp"
#include "unique_fd.hpp"

namespace pepsal::flowtool {

class ConnLog {
  public:
    ConnLog() = default;  // logs nowhere
    // Opens `path` for appending (created if missing). Throws std::system_error naming it.
    explicit ConnLog(const std::string& path);

    // `status` is "ok", "stopped" or "error=CODE". Safe to call from several threads: each line
    // is one write() on an O_APPEND file.
    void record(const Endpoint& peer, const ConnOutcome& out, const std::string& status) const;

  private:
    UniqueFd fd_;
};

}  // namespace pepsal::flowtool
