// Real TCP over 127.0.0.1 for the data-path tests (relay, pair engine): connected pairs,
// reproducible byte patterns, and blocking writers and readers that report how they ended.
// TCP rather than socketpair() because half-close and RST are what those tests are about.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdint>
#include <vector>

#include "unique_fd.hpp"

namespace pepsal::test {

using Bytes = std::vector<uint8_t>;

constexpr size_t MB = 1 << 20;

struct TcpPair {
    UniqueFd left, right;
};

inline void set_buffers(int fd, int bytes) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
}

// A connected, blocking TCP pair over 127.0.0.1; the ephemeral listener is closed again.
// Both ends time out blocking reads and writes after `hang_limit_s`, so a hang fails the test
// instead of stalling it. `buf_bytes` > 0 fixes both socket buffers (on the listener too, so
// the window scale matches).
inline TcpPair make_tcp_pair(int hang_limit_s, int buf_bytes = 0) {
    UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (buf_bytes) set_buffers(listener.get(), buf_bytes);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0);
    REQUIRE(listen(listener.get(), 1) == 0);
    REQUIRE(getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    UniqueFd left(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (buf_bytes) set_buffers(left.get(), buf_bytes);
    REQUIRE(connect(left.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0);
    UniqueFd right(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    REQUIRE(right.valid());
    timeval tv{hang_limit_s, 0};
    for (int fd : {left.get(), right.get()}) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    return {std::move(left), std::move(right)};
}

// A non-blocking SOCK_SEQPACKET pair, as the connmgr and its workers use for passing lanes.
struct SeqpacketPair {
    UniqueFd a, b;
};

inline SeqpacketPair make_seqpacket_pair() {
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0);
    return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

// `n` pseudo-random bytes, the same for the same seed (xorshift64).
inline Bytes pattern(uint64_t seed, size_t n) {
    Bytes out(n);
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (auto& byte : out) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        byte = uint8_t(x >> 24);
    }
    return out;
}

// 0 when everything was written, else the errno that stopped it (never SIGPIPE).
// `progress`, if given, counts the bytes as they go.
inline int write_all(int fd, const Bytes& data, std::atomic<uint64_t>* progress = nullptr) {
    for (size_t done = 0; done < data.size();) {
        size_t piece = std::min<size_t>(data.size() - done, 256 * 1024);
        ssize_t n = send(fd, data.data() + done, piece, MSG_NOSIGNAL);
        if (n < 0) return errno;
        done += size_t(n);
        if (progress) *progress += uint64_t(n);
    }
    return 0;
}

struct Received {
    Bytes data;
    int err = 0;  // 0: ended with EOF (or at `limit`)
};

// Reads until EOF, an error or `limit` bytes.
inline Received read_to_eof(int fd, size_t limit = SIZE_MAX) {
    Received r;
    std::vector<uint8_t> buf(256 * 1024);
    while (r.data.size() < limit) {
        ssize_t n = read(fd, buf.data(), std::min(buf.size(), limit - r.data.size()));
        if (n < 0) r.err = errno;
        if (n <= 0) break;
        r.data.insert(r.data.end(), buf.data(), buf.data() + n);
    }
    return r;
}

// What one read on a socket that should have been reset reports: ECONNRESET expected; 0 is
// EOF (a clean end where a reset was due), -1 a byte.
inline int error_of_next_read(int fd) {
    char c;
    ssize_t n = read(fd, &c, 1);
    return n < 0 ? errno : n == 0 ? 0 : -1;
}

}  // namespace pepsal::test
