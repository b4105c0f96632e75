// Big-endian field access for the pair protocol. Callers check lengths first: these helpers
// read and write exactly 2, 4 or 8 bytes at `p` and never look further.
#pragma once

#include <cstdint>

namespace pepsal::pair {

inline void put_u16(uint8_t* p, uint16_t v) {
    p[0] = uint8_t(v >> 8);
    p[1] = uint8_t(v);
}

inline void put_u32(uint8_t* p, uint32_t v) {
    for (int i = 3; i >= 0; --i, v >>= 8) p[i] = uint8_t(v);
}

inline void put_u64(uint8_t* p, uint64_t v) {
    for (int i = 7; i >= 0; --i, v >>= 8) p[i] = uint8_t(v);
}

inline uint16_t get_u16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }

inline uint32_t get_u32(const uint8_t* p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = v << 8 | p[i];
    return v;
}

inline uint64_t get_u64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
    return v;
}

}  // namespace pepsal::pair
