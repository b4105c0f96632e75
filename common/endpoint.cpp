#include "endpoint.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace pepsal {

Endpoint Endpoint::v4(const in_addr& addr, uint16_t port) {
    Endpoint e;
    auto* sin = reinterpret_cast<sockaddr_in*>(&e.ss);
    sin->sin_family = AF_INET;
    sin->sin_addr = addr;
    sin->sin_port = htons(port);
    return e;
}

Endpoint Endpoint::v6(const in6_addr& addr, uint16_t port) {
    Endpoint e;
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&e.ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = addr;
    sin6->sin6_port = htons(port);
    return e;
}

Endpoint Endpoint::from_sockaddr(const sockaddr* sa, socklen_t len) {
    if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
        auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
        return v4(sin->sin_addr, ntohs(sin->sin_port));
    }
    if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
        auto* sin6 = reinterpret_cast<const sockaddr_in6*>(sa);
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            in_addr a;
            std::memcpy(&a, &sin6->sin6_addr.s6_addr[12], 4);
            return v4(a, ntohs(sin6->sin6_port));
        }
        Endpoint e = v6(sin6->sin6_addr, ntohs(sin6->sin6_port));
        reinterpret_cast<sockaddr_in6*>(&e.ss)->sin6_scope_id = sin6->sin6_scope_id;
        return e;
    }
    return Endpoint{};
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
    std::string host;
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return std::nullopt;
        host = std::string(text.substr(1, close - 1));
        port_text = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos || text.find(':') != colon) return std::nullopt;
        host = std::string(text.substr(0, colon));
        port_text = text.substr(colon + 1);
    }
    if (port_text.empty() || port_text.size() > 5) return std::nullopt;
    unsigned port = 0;
    for (char c : port_text) {
        if (c < '0' || c > '9') return std::nullopt;
        port = port * 10 + unsigned(c - '0');
    }
    if (port > 65535) return std::nullopt;
    in_addr a4;
    in6_addr a6;
    if (inet_pton(AF_INET, host.c_str(), &a4) == 1) return v4(a4, uint16_t(port));
    if (inet_pton(AF_INET6, host.c_str(), &a6) == 1) return v6(a6, uint16_t(port));
    return std::nullopt;
}

uint16_t Endpoint::port() const {
    if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
    if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
    return 0;
}

void Endpoint::set_port(uint16_t port) {
    if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(port);
    if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(port);
}

socklen_t Endpoint::len() const {
    if (family() == AF_INET) return sizeof(sockaddr_in);
    if (family() == AF_INET6) return sizeof(sockaddr_in6);
    return 0;
}

const uint8_t* Endpoint::addr_bytes() const {
    if (family() == AF_INET)
        return reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr);
    return reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr.s6_addr;
}

bool Endpoint::is_unspecified() const {
    if (family() == AF_INET)
        return reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    if (family() == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr);
    return true;
}

std::string Endpoint::addr_string() const {
    char buf[INET6_ADDRSTRLEN] = "?";
    if (family() == AF_INET || family() == AF_INET6) inet_ntop(family(), addr_bytes(), buf, sizeof buf);
    return buf;
}

std::string Endpoint::to_string() const {
    if (family() == AF_INET6) return "[" + addr_string() + "]:" + std::to_string(port());
    return addr_string() + ":" + std::to_string(port());
}

bool operator==(const Endpoint& a, const Endpoint& b) {
    if (a.family() != b.family()) return false;
    if (a.family() != AF_INET && a.family() != AF_INET6) return true;
    size_t n = a.family() == AF_INET ? 4 : 16;
    return a.port() == b.port() && std::memcmp(a.addr_bytes(), b.addr_bytes(), n) == 0;
}

std::string flow_name(const Endpoint& client, const Endpoint& dest) {
    return client.to_string() + " → " + dest.to_string();
}

}  // namespace pepsal
