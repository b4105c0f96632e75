// An IPv4 or IPv6 address with a port: the unit in which flows are named and logged.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pepsal {

struct Endpoint {
    sockaddr_storage ss{};  // ss_family is AF_UNSPEC, AF_INET or AF_INET6

    static Endpoint v4(const in_addr& addr, uint16_t port);
    static Endpoint v6(const in6_addr& addr, uint16_t port);
    // Copies `len` bytes of `sa`; an IPv4-mapped IPv6 address becomes plain IPv4 so that
    // dual-stack sockets and the queuer agree on what a client's address is.
    static Endpoint from_sockaddr(const sockaddr* sa, socklen_t len);
    // "1.2.3.4:80", "[2001:db8::1]:80"; std::nullopt on anything else.
    static std::optional<Endpoint> parse(std::string_view text);

    int family() const { return ss.ss_family; }
    uint16_t port() const;  // host order
    void set_port(uint16_t port);
    const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&ss); }
    sockaddr* sa() { return reinterpret_cast<sockaddr*>(&ss); }
    socklen_t len() const;
    // The 16 address bytes (IPv4 in the first 4) for hashing and comparison.
    const uint8_t* addr_bytes() const;
    bool is_unspecified() const;
    std::string to_string() const;     // with port
    std::string addr_string() const;   // without port

    friend bool operator==(const Endpoint& a, const Endpoint& b);
};

// "client → destination", the form every log line about a flow uses.
std::string flow_name(const Endpoint& client, const Endpoint& dest);

}  // namespace pepsal
