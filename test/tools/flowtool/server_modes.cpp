#include "server_modes.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "failure.hpp"
#include "pattern.hpp"
#include "protocol.hpp"
#include "pump.hpp"

namespace pepsal::flowtool {

namespace {

// Sends the reply line, then fails if what arrived is not stream `req.seed` of `req.n` bytes.
void reply_and_check(Conn& c, const Request& req, PatternReceiver& rx) {
    auto& ck = rx.checker();
    c.write_all(format_reply(Reply{ck.bytes(), ck.hex_final(), c.peer().to_string()}));
    if (ck.bytes() != req.n)
        throw FlowError(Fail::length, "received " + std::to_string(ck.bytes()) + " of " +
                                          std::to_string(req.n) + " bytes");
    if (!ck.matches())
        throw FlowError(Fail::hash_mismatch,
                        "content differs at offset " + std::to_string(ck.first_mismatch()));
}

void serve_upload(Conn& c, const Request& req, const ModeConfig& cfg, ConnOutcome& out) {
    PatternReceiver rx(req.seed, UNTIL_EOF);
    if (cfg.corrupt) rx.corrupt_at(req.n / 2);
    pump(c, nullptr, &rx);
    out.received = rx.checker().bytes();
    reply_and_check(c, req, rx);
}

void serve_download(Conn& c, const Request& req, const ModeConfig& cfg, ConnOutcome& out) {
    PatternSender tx(reverse_seed(req.seed), req.n);
    if (cfg.corrupt) tx.corrupt_at(req.n / 2);
    pump(c, &tx, nullptr);
    out.sent = tx.sent();
}

void serve_both(Conn& c, const Request& req, const ModeConfig& cfg, ConnOutcome& out) {
    PatternSender tx(reverse_seed(req.seed), req.n);
    PatternReceiver rx(req.seed, UNTIL_EOF);
    if (cfg.corrupt) tx.corrupt_at(req.n / 2);
    pump(c, &tx, &rx);
    out.sent = tx.sent();
    out.received = rx.checker().bytes();
    reply_and_check(c, req, rx);
}

void serve_echo(Conn& c, const ModeConfig& cfg, ConnOutcome& out) {
    std::vector<uint8_t> buf(IO_CHUNK_BYTES);
    while (size_t n = c.read_some(buf.data(), buf.size())) {
        if (cfg.corrupt && out.sent == 0) buf[0] ^= 0x01;
        out.received += n;
        c.write_all(buf.data(), n);
        out.sent += n;
    }
}

// Request/response: each SIZE-byte message is answered with the next SIZE bytes of the
// server's stream, until the client closes between two messages.
void serve_rr(Conn& c, const Request& req, const ModeConfig& cfg, ConnOutcome& out) {
    if (req.n == 0 || req.n > MAX_RR_BYTES)
        throw FlowError(Fail::protocol, "rr size " + std::to_string(req.n) + " out of range");
    c.set_nodelay();
    std::vector<uint8_t> msg(req.n);
    for (;;) {
        size_t got = 0;
        if (!c.read_exact(msg.data(), msg.size(), &got)) {
            out.received += got;
            if (got == 0) return;
            throw FlowError(Fail::early_eof, "EOF inside an rr message");
        }
        out.received += got;
        fill_pattern(reverse_seed(req.seed), out.sent, msg.data(), msg.size());
        if (cfg.corrupt && out.sent == 0) msg[0] ^= 0x01;
        c.write_all(msg.data(), msg.size());
        out.sent += msg.size();
    }
}

void serve_reset_after(Conn& c, const Request& req, ConnOutcome& out) {
    std::vector<uint8_t> buf(IO_CHUNK_BYTES);
    while (out.received < req.n) {
        size_t n =
            c.read_some(buf.data(), size_t(std::min<uint64_t>(buf.size(), req.n - out.received)));
        if (n == 0) throw FlowError(Fail::early_eof, "EOF before the reset point");
        out.received += n;
    }
    c.close_with_reset();
}

void serve_hold(Conn& c, ConnOutcome& out) {
    c.set_idle_timeout_ms(0);
    uint8_t buf[4096];
    while (size_t n = c.read_some(buf, sizeof buf)) out.received += n;
}

// Tells the client the server side is up, then records how the client ends the connection.
// Its ending is the result, not a failure: an RST here is what reset-server-check wants.
void serve_watch(Conn& c, const Request& req, WatchBoard& board, ConnOutcome& out) {
    c.write_all(std::string("watching\n"));
    std::string end = "eof";
    try {
        uint8_t buf[4096];
        while (size_t n = c.read_some(buf, sizeof buf)) out.received += n;
    } catch (const FlowError& e) {
        if (e.code() == Fail::stopped) throw;
        end = fail_name(e.code());
    }
    board.post(req.seed, end);
    out.note = "end=" + end;
}

void serve_report(Conn& c, const Request& req, const ModeConfig& cfg, WatchBoard& board,
                  ConnOutcome& out) {
    uint64_t t = cfg.idle_timeout_ms;
    std::string end = board.await(req.seed, t ? Deadline::after_ms(t) : Deadline::never());
    out.note = "end=" + end;
    c.write_all("end=" + end + "\n");
}

}  // namespace

void serve_connection(Conn& conn, const ModeConfig& cfg, WatchBoard& board, ConnOutcome& out) {
    std::string line = conn.read_line(MAX_LINE_BYTES);
    auto req = parse_request(line);
    if (!req) throw FlowError(Fail::protocol, "bad request line '" + line.substr(0, 60) + "'");
    out.mode = mode_name(req->mode);
    switch (req->mode) {
        case Mode::upload:
            return serve_upload(conn, *req, cfg, out);
        case Mode::download:
            return serve_download(conn, *req, cfg, out);
        case Mode::both:
            return serve_both(conn, *req, cfg, out);
        case Mode::echo:
            return serve_echo(conn, cfg, out);
        case Mode::rr:
            return serve_rr(conn, *req, cfg, out);
        case Mode::reset_after:
            return serve_reset_after(conn, *req, out);
        case Mode::hold:
            return serve_hold(conn, out);
        case Mode::watch:
            return serve_watch(conn, *req, board, out);
        case Mode::report:
            return serve_report(conn, *req, cfg, board, out);
    }
}

}  // namespace pepsal::flowtool
