// How watched connections ended, shared by the server's connection threads: a `watch`
// connection posts its ending under the client's token, a later `report` connection reads it.
// This is how a client learns whether its RST reached the server as an RST through a proxy.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "deadline.hpp"

namespace pepsal::flowtool {

class WatchBoard {
  public:
    // Records `end` ("reset", "eof", "timeout", ...) for `token`; the oldest entries are
    // forgotten beyond MAX_ENTRIES so a long-running server stays bounded.
    void post(uint64_t token, const std::string& end);
    // Waits for `token` to be posted. Returns its end, "unknown" once `deadline` passes, or
    // "stopped" after stop().
    std::string await(uint64_t token, Deadline deadline);
    void stop();

  private:
    static constexpr size_t MAX_ENTRIES = 4096;

    std::mutex mu_;
    std::condition_variable changed_;
    std::map<uint64_t, std::string> ends_;
    std::deque<uint64_t> order_;  // tokens, oldest first
    bool stopped_ = false;
};

}  // namespace pepsal::flowtool
