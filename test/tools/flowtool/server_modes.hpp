// What the server does on one accepted connection, selected by the client's request line.
#pragma once

#include <cstdint>
#include <string>

#include "conn.hpp"
#include "watch_board.hpp"

namespace pepsal::flowtool {

struct ModeConfig {
    // Flip one byte of every stream the server sends or receives (before hashing), so a test
    // can prove that clients really detect damaged content.
    bool corrupt = false;
    // A connection on which no byte moves for this long fails with timeout (0: never); `hold`
    // waits for its peer however long it takes.
    uint64_t idle_timeout_ms = 60000;
};

// What one connection did, for the connection log and the summary.
struct ConnOutcome {
    std::string mode = "-";  // "-" until the request line is read
    uint64_t received = 0;   // payload bytes from the client, after the request line
    uint64_t sent = 0;       // payload bytes to the client, without the reply line
    std::string note;        // extra key=value for the log (watch: "end=reset")
};

// Reads the request line and runs its mode to the end, filling `out` as it goes. Throws
// FlowError if the request is malformed, the transfer fails or the received stream is wrong
// (the reply line, if the mode has one, is sent first so the client sees the same numbers).
// `board` links watch and report connections.
void serve_connection(Conn& conn, const ModeConfig& cfg, WatchBoard& board, ConnOutcome& out);

// Upper bound on an rr message, so a bad request cannot make the server allocate gigabytes.
constexpr uint64_t MAX_RR_BYTES = 16 << 20;

}  // namespace pepsal::flowtool
