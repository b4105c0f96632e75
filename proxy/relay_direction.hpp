// One direction of a relayed flow: bytes spliced from a source socket into a pipe and from the
// pipe into a destination socket, with the FIN passed on once the pipe is empty.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pipe.hpp"

namespace pepsal::proxy {

// What edge-triggered epoll has told us about one socket. A flag is set by an event and
// cleared only when a splice on that socket returns EAGAIN, so no readiness is ever lost
// between edges and nothing is retried without a reason (no busy loop).
struct Port {
    int fd = -1;
    bool readable = true;
    bool writable = true;
    bool error_reported = false;  // EPOLLERR seen; SO_ERROR still to be checked
};

// Whose fault a pump that stopped the flow was.
enum class Fault { none, source, destination, local };

struct PumpResult {
    uint64_t read = 0;     // bytes spliced from the source into the pipe
    uint64_t written = 0;  // bytes spliced from the pipe into the destination
    Fault fault = Fault::none;
    int err = 0;  // errno of the failed call when fault != none
};

class Direction {
public:
    enum class State {
        reading,   // source open: read, write
        draining,  // source sent FIN: write what the pipe holds, then shut the destination
        done,      // destination shut for writing; nothing more to do
    };

    explicit Direction(Pipe pipe) : pipe_(std::move(pipe)) {}

    // Moves bytes until neither socket can make progress without blocking; returns what moved
    // and, if the flow must end, whose fault it is. Never blocks.
    PumpResult pump(Port& src, Port& dst);

    State state() const { return state_; }
    bool done() const { return state_ == State::done; }

private:
    bool write_some(Port& dst, PumpResult& r);
    bool read_some(Port& src, PumpResult& r);
    void shut_destination(Port& dst, PumpResult& r);

    Pipe pipe_;
    size_t in_pipe_ = 0;  // bytes read but not yet written
    State state_ = State::reading;
};

}  // namespace pepsal::proxy
