// The lane handshake over a real loopback TCP connection: messages written a byte at a time
// arrive in odd pieces, and the first frame shares a segment with the PROOF; the bytes the
// handshake leaves must reach the frame decoder whole.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "pair_frame.hpp"
#include "pair_frame_decoder.hpp"
#include "pair_handshake.hpp"
#include "fd_count.hpp"
#include "unique_fd.hpp"

using namespace pepsal::pair;
using pepsal::UniqueFd;
using Bytes = std::vector<uint8_t>;
using Result = HandshakeStep::Result;

namespace {

Bytes bytes(std::span<const uint8_t> s) { return Bytes(s.begin(), s.end()); }

UniqueFd tcp_socket() {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    return fd;
}

// Writes `b` one byte per send() with Nagle off, so the peer sees many small segments.
void send_bytewise(int fd, std::span<const uint8_t> b) {
    for (uint8_t c : b) REQUIRE(::send(fd, &c, 1, MSG_NOSIGNAL) == 1);
}

// Reads whatever is there, waiting up to 5 s for the first byte; empty on EOF.
Bytes read_some(int fd) {
    pollfd p{fd, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 5000) == 1);
    uint8_t buf[7];  // small on purpose: messages arrive in several reads
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    REQUIRE(n >= 0);
    return Bytes(buf, buf + n);
}

// Feeds reads into `machine` until it leaves need_more; returns that step and the input rest.
template <typename Machine>
HandshakeStep pump(int fd, Machine& machine, Bytes& rest) {
    for (;;) {
        Bytes in = read_some(fd);
        HandshakeStep s = in.empty() ? machine.eof() : machine.feed(in);
        if (s.result != Result::need_more) {
            rest.assign(in.begin() + long(s.consumed), in.end());
            return s;
        }
    }
}

struct Connection {
    UniqueFd initiator, acceptor;
};

// A loopback TCP connection, Nagle off at both ends.
Connection connect_loopback() {
    UniqueFd lst = tcp_socket();
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(::bind(lst.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(lst.get(), 1) == 0);
    REQUIRE(::getsockname(lst.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
    Connection c;
    c.initiator = tcp_socket();
    REQUIRE(::connect(c.initiator.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    c.acceptor.reset(::accept4(lst.get(), nullptr, nullptr, SOCK_CLOEXEC));
    REQUIRE(c.acceptor);
    int one = 1;
    for (int fd : {c.initiator.get(), c.acceptor.get()})
        REQUIRE(::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0);
    return c;
}

// HELLO and CHALLENGE over `c`; returns the initiator's last step.
HandshakeStep hello_and_challenge(Connection& c, Initiator& ini, Acceptor& acc) {
    Bytes rest;
    send_bytewise(c.initiator.get(), ini.start().output);
    HandshakeStep s = pump(c.acceptor.get(), acc, rest);
    REQUIRE(s.result == Result::send);
    REQUIRE(rest.empty());
    send_bytewise(c.acceptor.get(), s.output);
    return pump(c.initiator.get(), ini, rest);
}

}  // namespace

TEST_CASE("pair handshake: over loopback TCP, frames follow in the same segments", "[pair]") {
    int fds_before = pepsal::test::open_fd_count();
    {
        Connection c = connect_loopback();
        Psk key(Bytes(64, 'x'));
        NonceRegistry r1, r2;
        Initiator ini(key, r1);
        Acceptor acc(key, r2);
        HandshakeStep di = hello_and_challenge(c, ini, acc);
        REQUIRE(di.result == Result::done);
        // The initiator sends its PROOF and its first frame in one write, then closes.
        const Bytes hello = {'h', 'e', 'l', 'l', 'o'};
        Bytes out = bytes(di.output);
        out.resize(PROOF_BYTES + FRAME_HEADER_BYTES + hello.size());
        encode_data(std::span(out).subspan(PROOF_BYTES), 0, hello);
        REQUIRE(::send(c.initiator.get(), out.data(), out.size(), MSG_NOSIGNAL) ==
                ssize_t(out.size()));
        REQUIRE(::shutdown(c.initiator.get(), SHUT_WR) == 0);
        Bytes rest;
        REQUIRE(pump(c.acceptor.get(), acc, rest).result == Result::done);
        // What followed the PROOF, in whatever pieces, goes to the frame decoder whole.
        FrameDecoder dec;
        REQUIRE(dec.feed(rest) == rest.size());
        for (Bytes in = read_some(c.acceptor.get()); !in.empty(); in = read_some(c.acceptor.get()))
            REQUIRE(dec.feed(in) == in.size());
        Frame f;
        REQUIRE(dec.next(f) == FrameDecoder::Status::frame);
        CHECK(f.header.type == FrameType::data);
        CHECK(bytes(f.payload) == hello);
        CHECK(dec.next(f) == FrameDecoder::Status::need_more);
        CHECK(dec.buffered() == 0);
    }
    CHECK(pepsal::test::open_fd_count() == fds_before);
}

TEST_CASE("pair handshake: over loopback TCP, a wrong key ends at the initiator", "[pair]") {
    Connection c = connect_loopback();
    Psk key_i(Bytes(32, 'i')), key_a(Bytes(32, 'a'));
    NonceRegistry r1, r2;
    Initiator ini(key_i, r1);
    Acceptor acc(key_a, r2);
    HandshakeStep di = hello_and_challenge(c, ini, acc);
    CHECK(di.result == Result::failed);
    CHECK(di.error == HandshakeError::bad_proof);
    // The initiator closes without a word; the acceptor learns why from the EOF.
    c.initiator.reset();
    Bytes rest;
    HandshakeStep da = pump(c.acceptor.get(), acc, rest);
    CHECK(da.result == Result::failed);
    CHECK(da.error == HandshakeError::peer_rejected);
}
