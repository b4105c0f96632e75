// What the queuer learns from one intercepted SYN.
#pragma once

#include <cstdint>

#include "endpoint.hpp"

namespace pepsal {

struct SynOptions {
    static constexpr uint8_t NO_WSCALE = 0xff;
    uint16_t mss = 0;               // 0: option absent
    uint8_t wscale = NO_WSCALE;     // shift count; NO_WSCALE: option absent
    bool sack_permitted = false;
    bool timestamps = false;
    uint32_t tsval = 0;             // valid when timestamps
};

struct SynRecord {
    Endpoint client;  // source address and port of the SYN
    Endpoint dest;    // destination the client asked for (before any NAT)
    SynOptions options;
};

}  // namespace pepsal
