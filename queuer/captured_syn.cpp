#include "captured_syn.hpp"

#include <vector>

namespace pepsal::queuer {

namespace {

constexpr size_t IPV6_HEADER_BYTES = 40;

uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
void put_be16(uint8_t* p, uint16_t v) {
    p[0] = uint8_t(v >> 8);
    p[1] = uint8_t(v);
}

// Shrinks the IP length field of `p` to the `len` bytes present, if it claims more. A field
// that claims less is left alone: the parser judges it.
void clamp_ip_length(uint8_t* p, size_t len) {
    if (len < 4) return;
    if ((p[0] >> 4) == 4 && be16(p + 2) > len) put_be16(p + 2, uint16_t(len));
    if ((p[0] >> 4) == 6 && len >= IPV6_HEADER_BYTES && be16(p + 4) > len - IPV6_HEADER_BYTES)
        put_be16(p + 4, uint16_t(len - IPV6_HEADER_BYTES));
}

}  // namespace

SynParse parse_captured_syn(const uint8_t* pkt, size_t len, size_t copy_range, SynRecord& out) {
    // The kernel never delivers a packet whose IP length exceeds what it holds, so a capture
    // shorter than the copy range is the whole packet and its lengths must agree.
    if (pkt == nullptr || len < copy_range || len > 0xffff) return parse_syn(pkt, len, out);
    // Rare (SYNs with data), so a copy is cheaper than making the parser lenient for everyone.
    std::vector<uint8_t> copy(pkt, pkt + len);
    clamp_ip_length(copy.data(), copy.size());
    return parse_syn(copy.data(), copy.size(), out);
}

}  // namespace pepsal::queuer
