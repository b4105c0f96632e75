// The verified bulk transfers a client can run: one connection each, every byte checked.
// Used by the single-flow commands and, one per thread, by `parallel`.
#pragma once

#include <cstdint>
#include <string>

#include "client_options.hpp"
#include "protocol.hpp"

namespace pepsal::flowtool {

struct FlowResult {
    uint64_t bytes = 0;       // payload per direction
    uint64_t moved = 0;       // payload over both directions (bytes, or 2 * bytes for both/echo)
    std::string sha256;       // of the client's stream (upload, both, echo) or the server's
    std::string sha256_down;  // both: of the server's stream
    double secs = 0;          // from connection established to the last check
    Endpoint local;           // the client's address
    Endpoint peer;            // the address connected to
    std::string server_saw;   // upload/both: the client address in the server's reply
};

// Sends `bytes` of stream `seed`, shuts the write side (half-close) and checks the server's
// reply line (count and SHA-256) that arrives after it. Throws FlowError on any failure.
FlowResult run_upload(const ClientOptions& o, uint64_t bytes, uint64_t seed);
// Receives the server's stream until EOF and checks its length and every byte.
FlowResult run_download(const ClientOptions& o, uint64_t bytes, uint64_t seed);
// Both at once: sends `bytes` then SHUT_WR while receiving `bytes`, then the reply line.
FlowResult run_both(const ClientOptions& o, uint64_t bytes, uint64_t seed);
// Sends `bytes` then SHUT_WR while receiving them back; checks they come back unchanged.
FlowResult run_echo(const ClientOptions& o, uint64_t bytes, uint64_t seed);

// Dispatches to one of the above (mode upload, download, both or echo).
FlowResult run_flow(Mode mode, const ClientOptions& o, uint64_t bytes, uint64_t seed);

}  // namespace pepsal::flowtool
