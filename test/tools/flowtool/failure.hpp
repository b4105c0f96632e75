// How a flow failed: a short code that scripts can match (`error=reset`) plus a message for people.
#pragma once

#include <stdexcept>
#include <string>

namespace pepsal::flowtool {

enum class Fail {
    timeout,        // the --timeout-ms deadline (or the connect timeout) passed
    refused,        // ECONNREFUSED at connect
    reset,          // ECONNRESET / EPIPE: the peer (or a middlebox) reset the connection
    early_eof,      // the peer closed before everything expected had arrived
    length,         // byte count differs from the one requested
    hash_mismatch,  // content differs from the regenerated stream
    bad_reply,      // the server's reply line is missing or malformed
    protocol,       // the request header is malformed or names an unknown mode
    stopped,        // the server is shutting down
    io,             // any other system call failure
};

inline const char* fail_name(Fail f) {
    switch (f) {
        case Fail::timeout:
            return "timeout";
        case Fail::refused:
            return "refused";
        case Fail::reset:
            return "reset";
        case Fail::early_eof:
            return "early_eof";
        case Fail::length:
            return "length";
        case Fail::hash_mismatch:
            return "hash_mismatch";
        case Fail::bad_reply:
            return "bad_reply";
        case Fail::protocol:
            return "protocol";
        case Fail::stopped:
            return "stopped";
        case Fail::io:
            return "io";
    }
    return "io";
}

// Thrown by the data path of one flow and caught at that flow's top level (a command, a
// parallel worker thread or a server connection thread).
class FlowError : public std::runtime_error {
  public:
    FlowError(Fail code, const std::string& message) : std::runtime_error(message), code_(code) {}
    Fail code() const noexcept { return code_; }

  private:
    Fail code_;
};

// Maps the errno of a failed socket call to a failure code; `what` names the call and address.
[[noreturn]] void throw_flow_errno(int err, const std::string& what);

}  // namespace pepsal::flowtool
