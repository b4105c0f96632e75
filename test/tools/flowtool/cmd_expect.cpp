// expect-reset / expect-eof: how does a connection end? Used to check that a proxy passes a
// server's RST as an RST and its FIN as a FIN (and refuses what it should refuse).
#include <cstdio>
#include <optional>

#include "args.hpp"
#include "client_options.hpp"
#include "commands.hpp"
#include "failure.hpp"
#include "protocol.hpp"
#include "pump.hpp"
#include "result_line.hpp"

namespace pepsal::flowtool {

namespace {

constexpr uint64_t DEFAULT_EXPECT_TIMEOUT_MS = 1000;

enum class Ending { reset, eof, timeout, error };

// Exit statuses: the expected ending, the opposite one, a timeout, anything else.
constexpr int EXIT_OPPOSITE = 1;
constexpr int EXIT_TIMEOUT = 2;
constexpr int EXIT_ERROR = 3;

struct Observed {
    Ending ending = Ending::error;
    std::string how;  // reset: refused / reset; error: the failure code
    std::string message;
    uint64_t sent = 0, received = 0;
};

// Connects, sends the optional request line and --send bytes, and reads until the connection
// ends one way or another (or the deadline passes).
Observed observe(const Args& args) {
    ClientOptions o = client_options(args, DEFAULT_EXPECT_TIMEOUT_MS);
    uint64_t send = args.size("send", 0, 1ull << 40, 0);
    std::optional<Mode> request;
    if (args.has("request") && !(request = parse_mode(args.str("request"))))
        throw UsageError("--request " + args.str("request") + ": not a server mode");
    uint64_t n = args.size("bytes", 0, 1ull << 50, send);
    // Shorthands: --hold waits on an idle flow; --server-reset-after N has the server reset
    // once it has read N bytes, which are sent.
    if (args.flag("hold")) request = Mode::hold;
    if (args.has("server-reset-after")) {
        request = Mode::reset_after;
        n = send = args.size("server-reset-after", 0, 1ull << 40);
    }

    Observed seen;
    PatternSender tx(o.seed, send);
    PatternReceiver rx(reverse_seed(o.seed), UNTIL_EOF);
    try {
        Conn c = Conn::connect(o.to, o.deadline, o.connect_timeout_ms);
        if (request) c.write_all(format_request(Request{*request, n, o.seed}));
        pump(c, &tx, &rx, PumpOptions{.stop_at_eof = true});
        seen.ending = Ending::eof;
    } catch (const FlowError& e) {
        bool reset = e.code() == Fail::reset || e.code() == Fail::refused;
        seen.ending = reset                       ? Ending::reset
                      : e.code() == Fail::timeout ? Ending::timeout
                                                  : Ending::error;
        seen.how = fail_name(e.code());
        seen.message = e.what();
    }
    seen.sent = tx.sent();
    seen.received = rx.checker().bytes();
    return seen;
}

int expect(const char* cmd, Ending wanted, int argc, char** argv) {
    Args args(argc, argv, client_keys({"send", "request", "bytes", "server-reset-after"}),
              {"hold"});
    uint64_t t0 = monotonic_ms();
    Observed seen = observe(args);
    static const char* NAMES[] = {"reset", "eof", "timeout", "fail"};
    ResultLine line(NAMES[int(seen.ending)]);
    line.add("after_ms", monotonic_ms() - t0);
    if (!seen.how.empty()) line.add(seen.ending == Ending::error ? "error" : "how", seen.how);
    line.add("sent", seen.sent).add("received", seen.received);
    line.print();
    if (seen.ending == wanted) return EXIT_OK;
    std::fprintf(stderr, "flowtool %s: expected %s, saw %s%s%s\n", cmd, NAMES[int(wanted)],
                 NAMES[int(seen.ending)], seen.message.empty() ? "" : ": ", seen.message.c_str());
    if (seen.ending == Ending::timeout) return EXIT_TIMEOUT;
    return seen.ending == Ending::error ? EXIT_ERROR : EXIT_OPPOSITE;
}

}  // namespace

int cmd_expect_reset(int argc, char** argv) {
    return expect("expect-reset", Ending::reset, argc, argv);
}
int cmd_expect_eof(int argc, char** argv) {
    return expect("expect-eof", Ending::eof, argc, argv);
}

}  // namespace pepsal::flowtool
