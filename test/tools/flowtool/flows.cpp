#include "flows.hpp"

#include <chrono>

#include "failure.hpp"
#include "pump.hpp"

namespace pepsal::flowtool {

namespace {

using SteadyClock = std::chrono::steady_clock;

double secs_since(SteadyClock::time_point t0) {
    return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

Conn open(const ClientOptions& o, Mode mode, uint64_t n, uint64_t seed, FlowResult& r) {
    Conn c = Conn::connect(o.to, o.deadline, o.connect_timeout_ms);
    r.local = c.local();
    r.peer = c.peer();
    c.write_all(format_request(Request{mode, n, seed}));
    return c;
}

void check_stream(PatternReceiver& rx, uint64_t want, const std::string& what) {
    auto& ck = rx.checker();
    if (ck.bytes() != want)
        throw FlowError(rx.eof() ? Fail::early_eof : Fail::length,
                        what + ": received " + std::to_string(ck.bytes()) + " of " +
                            std::to_string(want) + " bytes");
    if (!ck.matches())
        throw FlowError(Fail::hash_mismatch,
                        what + ": content differs from the regenerated stream at offset " +
                            std::to_string(ck.first_mismatch()));
}

// Reads the server's reply line, which must be followed by EOF, and checks it against what was
// sent. Returns the client address the server reported.
std::string check_reply(Conn& c, uint64_t bytes, const std::string& sent_sha256) {
    std::string line = c.read_line(MAX_LINE_BYTES);
    auto reply = parse_reply(line);
    if (!reply) throw FlowError(Fail::bad_reply, "malformed reply '" + line + "'");
    uint8_t extra;
    if (c.read_some(&extra, 1) != 0) throw FlowError(Fail::bad_reply, "bytes after the reply line");
    if (reply->bytes != bytes)
        throw FlowError(Fail::length, "server received " + std::to_string(reply->bytes) + " of " +
                                          std::to_string(bytes) + " bytes");
    if (reply->sha256 != sent_sha256)
        throw FlowError(Fail::hash_mismatch,
                        "server's sha256 " + reply->sha256 + " != sent " + sent_sha256);
    return reply->peer;
}

}  // namespace

FlowResult run_upload(const ClientOptions& o, uint64_t bytes, uint64_t seed) {
    FlowResult r;
    Conn c = open(o, Mode::upload, bytes, seed, r);
    auto t0 = SteadyClock::now();
    PatternSender tx(seed, bytes);
    pump(c, &tx, nullptr, PumpOptions{.shutdown_after_send = true});
    r.sha256 = tx.hex_final();
    r.server_saw = check_reply(c, bytes, r.sha256);
    r.secs = secs_since(t0);
    r.bytes = r.moved = bytes;
    return r;
}

FlowResult run_download(const ClientOptions& o, uint64_t bytes, uint64_t seed) {
    FlowResult r;
    Conn c = open(o, Mode::download, bytes, seed, r);
    auto t0 = SteadyClock::now();
    PatternReceiver rx(reverse_seed(seed), UNTIL_EOF);
    pump(c, nullptr, &rx);
    check_stream(rx, bytes, "download");
    r.sha256 = rx.checker().hex_final();
    r.secs = secs_since(t0);
    r.bytes = r.moved = bytes;
    return r;
}

FlowResult run_both(const ClientOptions& o, uint64_t bytes, uint64_t seed) {
    FlowResult r;
    Conn c = open(o, Mode::both, bytes, seed, r);
    auto t0 = SteadyClock::now();
    PatternSender tx(seed, bytes);
    PatternReceiver rx(reverse_seed(seed), bytes);  // the reply line follows the stream
    pump(c, &tx, &rx, PumpOptions{.shutdown_after_send = true});
    check_stream(rx, bytes, "both (server to client)");
    r.sha256 = tx.hex_final();
    r.sha256_down = rx.checker().hex_final();
    r.server_saw = check_reply(c, bytes, r.sha256);
    r.secs = secs_since(t0);
    r.bytes = bytes;
    r.moved = 2 * bytes;
    return r;
}

FlowResult run_echo(const ClientOptions& o, uint64_t bytes, uint64_t seed) {
    FlowResult r;
    Conn c = open(o, Mode::echo, 0, seed, r);
    auto t0 = SteadyClock::now();
    PatternSender tx(seed, bytes);
    PatternReceiver rx(seed, UNTIL_EOF);
    pump(c, &tx, &rx, PumpOptions{.shutdown_after_send = true});
    check_stream(rx, bytes, "echo");
    r.sha256 = tx.hex_final();
    r.secs = secs_since(t0);
    r.bytes = bytes;
    r.moved = 2 * bytes;
    return r;
}

FlowResult run_flow(Mode mode, const ClientOptions& o, uint64_t bytes, uint64_t seed) {
    switch (mode) {
        case Mode::upload:
            return run_upload(o, bytes, seed);
        case Mode::download:
            return run_download(o, bytes, seed);
        case Mode::both:
            return run_both(o, bytes, seed);
        case Mode::echo:
            return run_echo(o, bytes, seed);
        default:
            throw FlowError(Fail::protocol, std::string("not a bulk mode: ") + mode_name(mode));
    }
}

}  // namespace pepsal::flowtool
