// The flowtool wire protocol. A connection starts with one request line from the client,
//     MODE N SEED\n        (N: bytes, or the message size for rr; 0 where unused)
// and for upload/both the server ends with one reply line after the payload,
//     bytes=X sha256=H peer=ADDR:PORT\n
// where peer is the client address the server saw (a proxy in the path shows up there).
// `watch 0 TOKEN` answers "watching\n" and then records how the connection ends; a later
// `report 0 TOKEN` connection gets "end=reset|eof|timeout|unknown\n" for it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pepsal::flowtool {

enum class Mode { upload, download, both, echo, rr, reset_after, hold, watch, report };

const char* mode_name(Mode m);
std::optional<Mode> parse_mode(std::string_view name);

constexpr size_t MAX_LINE_BYTES = 200;

struct Request {
    Mode mode = Mode::hold;
    uint64_t n = 0;
    uint64_t seed = 0;
};

std::string format_request(const Request& r);  // with the trailing '\n'
// Parses a line without its '\n'; std::nullopt on anything malformed.
std::optional<Request> parse_request(std::string_view line);

struct Reply {
    uint64_t bytes = 0;
    std::string sha256;
    std::string peer;
};

std::string format_reply(const Reply& r);  // with the trailing '\n'
std::optional<Reply> parse_reply(std::string_view line);

}  // namespace pepsal::flowtool
