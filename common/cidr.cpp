#include "cidr.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <sstream>

namespace pepsal {

namespace {
bool prefix_matches(const uint8_t* a, const uint8_t* net, unsigned bits) {
    unsigned full = bits / 8, rest = bits % 8;
    if (std::memcmp(a, net, full) != 0) return false;
    if (rest == 0) return true;
    uint8_t mask = uint8_t(0xff << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}
}  // namespace

bool cidr_list_contains(const std::string& list, const Endpoint& addr) {
    std::stringstream items(list);
    std::string item;
    while (std::getline(items, item, ',')) {
        auto slash = item.find('/');
        std::string host = item.substr(0, slash);
        uint8_t net[16];
        int family = inet_pton(AF_INET, host.c_str(), net) == 1    ? AF_INET
                     : inet_pton(AF_INET6, host.c_str(), net) == 1 ? AF_INET6
                                                                   : 0;
        if (family != addr.family()) continue;
        unsigned max_bits = family == AF_INET ? 32 : 128;
        unsigned bits = slash == std::string::npos ? max_bits : unsigned(std::stoul(item.substr(slash + 1)));
        if (prefix_matches(addr.addr_bytes(), net, std::min(bits, max_bits))) return true;
    }
    return false;
}

}  // namespace pepsal
