// reset-server-check / fin-server-check: does the way the client ends a connection reach the
// server unchanged? The client opens a `watch` connection, waits until the server confirms it
// (so a proxy has connected the server side), ends it with RST or FIN, then asks the server on
// a second connection how the watched one ended.
#include <sodium.h>

#include <cstdio>

#include "args.hpp"
#include "client_options.hpp"
#include "commands.hpp"
#include "conn.hpp"
#include "failure.hpp"
#include "protocol.hpp"
#include "result_line.hpp"

namespace pepsal::flowtool {

namespace {

constexpr uint64_t DEFAULT_CHECK_TIMEOUT_MS = 10000;

// Opens the watched connection and ends it; returns the token naming it.
uint64_t watch_and_close(const ClientOptions& o, bool with_reset) {
    uint64_t token;
    randombytes_buf(&token, sizeof token);
    Conn c = Conn::connect(o.to, o.deadline, o.connect_timeout_ms);
    c.write_all(format_request(Request{Mode::watch, 0, token}));
    std::string line = c.read_line(MAX_LINE_BYTES);
    if (line != "watching") throw FlowError(Fail::bad_reply, "watch answered '" + line + "'");
    if (with_reset) {
        c.close_with_reset();
    } else {
        c.shutdown_write();
        uint8_t b;
        if (c.read_some(&b, 1) != 0)
            throw FlowError(Fail::bad_reply, "data on the watch connection");
    }
    return token;
}

std::string ask_end(const ClientOptions& o, uint64_t token) {
    Conn c = Conn::connect(o.to, o.deadline, o.connect_timeout_ms);
    c.write_all(format_request(Request{Mode::report, 0, token}));
    std::string line = c.read_line(MAX_LINE_BYTES);
    if (!line.starts_with("end="))
        throw FlowError(Fail::bad_reply, "report answered '" + line + "'");
    return line.substr(4);
}

int server_check(const char* cmd, bool with_reset, int argc, char** argv) {
    Args args(argc, argv, client_keys({}), {});
    ClientOptions o = client_options(args, DEFAULT_CHECK_TIMEOUT_MS);
    const std::string want = with_reset ? "reset" : "eof";
    try {
        uint64_t t0 = monotonic_ms();
        std::string end = ask_end(o, watch_and_close(o, with_reset));
        ResultLine(end == want ? "ok" : "fail")
            .add("end", end)
            .add("after_ms", monotonic_ms() - t0)
            .print();
        if (end == want) return EXIT_OK;
        std::fprintf(stderr, "flowtool %s: the server saw end=%s, expected %s\n", cmd, end.c_str(),
                     want.c_str());
        return EXIT_FAILED;
    } catch (const FlowError& e) {
        return report_failure(cmd, e);
    }
}

}  // namespace

int cmd_reset_server_check(int argc, char** argv) {
    return server_check("reset-server-check", true, argc, argv);
}
int cmd_fin_server_check(int argc, char** argv) {
    return server_check("fin-server-check", false, argc, argv);
}

}  // namespace pepsal::flowtool
