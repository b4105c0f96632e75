// hold: one idle connection for a while (idle-timeout tests, memory per flow). The connection
// must stay up: a peer that closes or resets it early makes the command fail.
#include <poll.h>

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

constexpr uint64_t MAX_HOLD_SECS = 7 * 24 * 3600;

// Idles until `until`; throws if the peer sends, closes or resets meanwhile.
void idle(Conn& c, Deadline until) {
    pollfd p{c.fd(), POLLIN, 0};
    for (;;) {
        int n = poll(&p, 1, until.poll_timeout_ms());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_flow_errno(errno, "poll " + c.peer().to_string());
        if (n == 0) return;
        uint8_t b;
        ssize_t got = c.try_read(&b, 1);  // throws on reset
        if (got == 0) throw FlowError(Fail::early_eof, "peer closed the held connection");
        if (got > 0) throw FlowError(Fail::protocol, "peer sent data on the held connection");
    }
}

}  // namespace

int cmd_hold(int argc, char** argv) {
    Args args(argc, argv, client_keys({"secs"}), {});
    uint64_t secs = args.num("secs", 0, MAX_HOLD_SECS);
    // The overall deadline covers the hold itself plus the usual margin, unless given.
    ClientOptions o = client_options(args, secs * 1000 + DEFAULT_TIMEOUT_MS);
    if (o.timeout_ms < secs * 1000)
        throw UsageError("--timeout-ms " + std::to_string(o.timeout_ms) +
                         " is shorter than --secs " + std::to_string(secs));
    try {
        ResultLine line("ok");
        {
            Conn c = Conn::connect(o.to, o.deadline, o.connect_timeout_ms);
            c.write_all(format_request(Request{Mode::hold, 0, o.seed}));
            idle(c, Deadline::after_ms(secs * 1000));
            line.add("secs", secs)
                .add("peer", c.peer().to_string())
                .add("local", c.local().to_string());
        }  // closed (FIN) before the result is printed
        line.print();
        return EXIT_OK;
    } catch (const FlowError& e) {
        return report_failure("hold", e);
    }
}

}  // namespace pepsal::flowtool
