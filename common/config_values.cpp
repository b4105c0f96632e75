#include "config_values.hpp"

#include <arpa/inet.h>
#include <net/if.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "sockopt.hpp"

namespace pepsal::config_values {

namespace {

std::vector<std::string> split_list(const std::string& v) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : v + ",") {
        if (c == ',' || c == ' ' || c == '\t') {
            if (!cur.empty()) out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    return out;
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
    return out;
}

std::string available_congestion() {
    std::ifstream f("/proc/sys/net/ipv4/tcp_available_congestion_control");
    std::string line;
    std::getline(f, line);
    return line;
}

}  // namespace

uint64_t parse_uint(const std::string& v, uint64_t min, uint64_t max) {
    std::string range = "from " + std::to_string(min) + " to " + std::to_string(max);
    if (v.empty()) throw std::invalid_argument("empty; expected a whole number " + range);
    bool hex = v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X');
    uint64_t n = 0;
    for (size_t i = hex ? 2 : 0; i < v.size(); ++i) {
        int c = std::tolower(static_cast<unsigned char>(v[i]));
        int d = std::isdigit(c) ? c - '0' : (hex && c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (d < 0) throw std::invalid_argument("not a whole number; expected one " + range);
        if (n > (UINT64_MAX - uint64_t(d)) / (hex ? 16 : 10))
            throw std::invalid_argument("too large; expected " + range);
        n = n * (hex ? 16 : 10) + uint64_t(d);
    }
    if (n < min || n > max) throw std::invalid_argument("out of range; expected " + range);
    return n;
}

bool parse_bool(const std::string& v) {
    if (v == "yes" || v == "true" || v == "on" || v == "1") return true;
    if (v == "no" || v == "false" || v == "off" || v == "0") return false;
    throw std::invalid_argument("expected yes or no");
}

uint64_t parse_size(const std::string& v, uint64_t min, uint64_t max) {
    if (v.empty()) throw std::invalid_argument("empty; expected a size such as 4m");
    uint64_t mult = 1;
    std::string digits = v;
    switch (std::tolower(static_cast<unsigned char>(v.back()))) {
        case 'k': mult = 1ull << 10; break;
        case 'm': mult = 1ull << 20; break;
        case 'g': mult = 1ull << 30; break;
        default: break;
    }
    if (mult != 1) digits.pop_back();
    uint64_t n;
    try {
        n = parse_uint(digits, 0, UINT64_MAX / mult) * mult;
    } catch (const std::invalid_argument&) {
        throw std::invalid_argument("not a size; expected bytes with optional k, m or g");
    }
    if (n < min || n > max)
        throw std::invalid_argument("out of range; expected " + std::to_string(min) + " to " +
                                    std::to_string(max) + " bytes");
    return n;
}

uint32_t parse_seconds_ms(const std::string& v, uint32_t min_s, uint32_t max_s) {
    return uint32_t(parse_uint(v, min_s, max_s) * 1000);
}

std::string parse_cidr_list(const std::string& v) {
    auto items = split_list(v);
    for (const auto& item : items) {
        auto slash = item.find('/');
        std::string addr = item.substr(0, slash);
        unsigned char buf[16];
        int family = inet_pton(AF_INET, addr.c_str(), buf) == 1    ? AF_INET
                     : inet_pton(AF_INET6, addr.c_str(), buf) == 1 ? AF_INET6
                                                                   : 0;
        if (!family) throw std::invalid_argument("'" + item + "' is not an IPv4 or IPv6 network");
        if (slash != std::string::npos) {
            try {
                parse_uint(item.substr(slash + 1), 0, family == AF_INET ? 32 : 128);
            } catch (const std::invalid_argument&) {
                throw std::invalid_argument("'" + item + "' has a bad prefix length");
            }
        }
    }
    return join(items);
}

std::string parse_iface_list(const std::string& v) {
    auto items = split_list(v);
    for (const auto& item : items) {
        bool ok = item.size() < IFNAMSIZ;
        for (char c : item) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
                                        c == '_' || c == '.' || c == '+');
        if (!ok) throw std::invalid_argument("'" + item + "' is not an interface name");
    }
    return join(items);
}

std::string parse_port_list(const std::string& v) {
    auto items = split_list(v);
    for (const auto& item : items) {
        auto colon = item.find(':');  // iptables port range lo:hi
        try {
            uint64_t lo = parse_uint(item.substr(0, colon), 1, 65535);
            if (colon != std::string::npos && parse_uint(item.substr(colon + 1), lo, 65535) < lo)
                throw std::invalid_argument("");
        } catch (const std::invalid_argument&) {
            throw std::invalid_argument("'" + item + "' is not a port or a range lo:hi");
        }
    }
    return join(items);
}

std::string parse_congestion(const std::string& v) {
    if (v == "default") return "";
    if (v == "auto") return congestion_usable("bbr") ? "bbr" : "";
    for (char c : v)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
            throw std::invalid_argument("not a congestion control name");
    if (!congestion_usable(v))
        throw std::invalid_argument("not available in this kernel (available: " +
                                    available_congestion() + ")");
    return v;
}

}  // namespace pepsal::config_values
