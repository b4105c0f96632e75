// The SYN parser. Every length is checked against the end of what was actually received before it
// is used, and the record is built in a local and copied out only when the whole packet checked.
//
// How results are chosen, so that the queuer's counters mean something:
//   truncated  the bytes end before a header that a length field or the protocol requires
//              (IP total length beyond the buffer, TCP header or an extension header running
//              past the end of the IP packet, a TCP data offset beyond the segment);
//   malformed  a field that no valid packet carries (IP version, IHL < 5, total length shorter
//              than the IP header, TCP data offset < 5, a hop-by-hop header that is not first,
//              an option whose length is < 2, wrong for its kind, or runs past the option area
//              the data offset declares, and SYN together with RST or FIN);
//   not_tcp    a valid packet that is not the first piece of a TCP segment (other protocols,
//              ESP/AH/no-next-header, non-first fragments);
//   not_syn    TCP without SYN, or SYN with ACK.
// SYN+RST and SYN+FIN are malformed rather than not_syn: no stack sends them, scanners do, and
// counting them as malformed keeps them visible instead of hiding them among ordinary segments.
#include "syn_parser.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace pepsal {

namespace {

constexpr size_t IPV4_MIN_HEADER_BYTES = 20;
constexpr size_t IPV6_HEADER_BYTES = 40;
constexpr size_t IPV6_FRAGMENT_HEADER_BYTES = 8;
constexpr size_t TCP_MIN_HEADER_BYTES = 20;
constexpr uint16_t IPV4_FRAGMENT_OFFSET_MASK = 0x1fff;  // in units of 8 bytes

constexpr uint8_t TCP_FIN = 0x01;
constexpr uint8_t TCP_SYN = 0x02;
constexpr uint8_t TCP_RST = 0x04;
constexpr uint8_t TCP_ACK = 0x10;

constexpr uint8_t OPT_EOL = 0;
constexpr uint8_t OPT_NOP = 1;
constexpr uint8_t OPT_MSS = 2;
constexpr uint8_t OPT_WSCALE = 3;
constexpr uint8_t OPT_SACK_PERMITTED = 4;
constexpr uint8_t OPT_TIMESTAMPS = 8;
constexpr uint8_t MAX_WSCALE_SHIFT = 14;  // RFC 7323 §2.3: larger values are used as 14

uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

// A TCP segment located inside a packet, with the network-layer endpoints it travels between.
struct Located {
    const uint8_t* tcp = nullptr;
    size_t tcp_len = 0;  // up to the end of the IP packet, not of the buffer
    SynRecord record;    // addresses filled, ports and options not yet
};

// One option with its kind-specific length; `false` when that length is wrong.
bool apply_option(uint8_t kind, const uint8_t* opt, size_t len, SynOptions& o) {
    switch (kind) {
        case OPT_MSS:
            if (len != 4) return false;
            o.mss = be16(opt + 2);
            return true;
        case OPT_WSCALE:
            if (len != 3) return false;
            o.wscale = std::min(opt[2], MAX_WSCALE_SHIFT);
            return true;
        case OPT_SACK_PERMITTED:
            if (len != 2) return false;
            o.sack_permitted = true;
            return true;
        case OPT_TIMESTAMPS:
            if (len != 10) return false;
            o.timestamps = true;
            o.tsval = be32(opt + 2);
            return true;
        default:  // unknown kinds (TFO cookie, MD5, experiments) are skipped by their length
            return true;
    }
}

// Walks the option area [opt, opt + len) that the data offset declared (known to be inside the
// packet), so anything that does not fit in it is malformed, never truncated.
SynParse parse_options(const uint8_t* opt, size_t len, SynOptions& out) {
    size_t i = 0;
    while (i < len) {
        uint8_t kind = opt[i];
        if (kind == OPT_EOL) break;
        if (kind == OPT_NOP) {
            ++i;
            continue;
        }
        if (len - i < 2) return SynParse::malformed;  // no room for the length byte
        size_t olen = opt[i + 1];
        if (olen < 2 || olen > len - i) return SynParse::malformed;
        if (!apply_option(kind, opt + i, olen, out)) return SynParse::malformed;
        i += olen;
    }
    return SynParse::ok;
}

SynParse parse_tcp(const Located& at, SynRecord& out) {
    const uint8_t* tcp = at.tcp;
    if (at.tcp_len < TCP_MIN_HEADER_BYTES) return SynParse::truncated;
    size_t header_bytes = size_t(tcp[12] >> 4) * 4;
    if (header_bytes < TCP_MIN_HEADER_BYTES) return SynParse::malformed;
    if (header_bytes > at.tcp_len) return SynParse::truncated;

    uint8_t flags = tcp[13];
    if (!(flags & TCP_SYN) || (flags & TCP_ACK)) return SynParse::not_syn;
    if (flags & (TCP_RST | TCP_FIN)) return SynParse::malformed;

    SynRecord rec = at.record;
    rec.client.set_port(be16(tcp));
    rec.dest.set_port(be16(tcp + 2));
    SynParse r = parse_options(tcp + TCP_MIN_HEADER_BYTES, header_bytes - TCP_MIN_HEADER_BYTES,
                               rec.options);
    if (r == SynParse::ok) out = rec;
    return r;
}

SynParse locate_ipv4(const uint8_t* pkt, size_t len, Located& at) {
    if (len < IPV4_MIN_HEADER_BYTES) return SynParse::truncated;
    size_t header_bytes = size_t(pkt[0] & 0x0f) * 4;
    if (header_bytes < IPV4_MIN_HEADER_BYTES) return SynParse::malformed;
    size_t total = be16(pkt + 2);
    if (total < header_bytes) return SynParse::malformed;
    // Bytes past the total length (link padding, capture slack) are not part of the packet.
    if (total > len) return SynParse::truncated;
    if ((be16(pkt + 6) & IPV4_FRAGMENT_OFFSET_MASK) != 0) return SynParse::not_tcp;
    if (pkt[9] != IPPROTO_TCP) return SynParse::not_tcp;

    in_addr src, dst;
    std::memcpy(&src, pkt + 12, 4);
    std::memcpy(&dst, pkt + 16, 4);
    at.record.client = Endpoint::v4(src, 0);
    at.record.dest = Endpoint::v4(dst, 0);
    at.tcp = pkt + header_bytes;
    at.tcp_len = total - header_bytes;
    return SynParse::ok;
}

// Follows the IPv6 next-header chain from `off` to the TCP header, within [0, end).
SynParse walk_ipv6_chain(const uint8_t* pkt, size_t end, uint8_t next, size_t off, Located& at) {
    for (bool first = true;; first = false) {
        switch (next) {
            case IPPROTO_TCP:
                at.tcp = pkt + off;
                at.tcp_len = end - off;
                return SynParse::ok;
            case IPPROTO_HOPOPTS:
                // RFC 8200 §4.1: only valid right after the IPv6 header; the kernel drops others.
                if (!first) return SynParse::malformed;
                [[fallthrough]];
            case IPPROTO_ROUTING:
            case IPPROTO_DSTOPTS: {
                if (end - off < 2) return SynParse::truncated;
                size_t bytes = (size_t(pkt[off + 1]) + 1) * 8;
                if (bytes > end - off) return SynParse::truncated;
                next = pkt[off];
                off += bytes;
                break;
            }
            case IPPROTO_FRAGMENT:
                if (end - off < IPV6_FRAGMENT_HEADER_BYTES) return SynParse::truncated;
                if ((be16(pkt + off + 2) >> 3) != 0) return SynParse::not_tcp;
                next = pkt[off];
                off += IPV6_FRAGMENT_HEADER_BYTES;
                break;
            default:  // ESP, AH, no next header, UDP, ICMPv6, ...
                return SynParse::not_tcp;
        }
    }
}

SynParse locate_ipv6(const uint8_t* pkt, size_t len, Located& at) {
    if (len < IPV6_HEADER_BYTES) return SynParse::truncated;
    size_t end = IPV6_HEADER_BYTES + be16(pkt + 4);
    if (end > len) return SynParse::truncated;

    in6_addr src, dst;
    std::memcpy(&src, pkt + 8, 16);
    std::memcpy(&dst, pkt + 24, 16);
    at.record.client = Endpoint::v6(src, 0);
    at.record.dest = Endpoint::v6(dst, 0);
    // Every header in the chain consumes at least 8 bytes, so the walk ends within `end`.
    return walk_ipv6_chain(pkt, end, pkt[6], IPV6_HEADER_BYTES, at);
}

}  // namespace

const char* to_string(SynParse result) {
    switch (result) {
        case SynParse::ok: return "ok";
        case SynParse::not_tcp: return "not TCP";
        case SynParse::not_syn: return "not a SYN";
        case SynParse::truncated: return "truncated";
        case SynParse::malformed: return "malformed";
    }
    return "unknown";
}

SynParse parse_syn(const uint8_t* pkt, size_t len, SynRecord& out) {
    if (pkt == nullptr || len == 0) return SynParse::truncated;
    Located at;
    SynParse r;
    switch (pkt[0] >> 4) {
        case 4: r = locate_ipv4(pkt, len, at); break;
        case 6: r = locate_ipv6(pkt, len, at); break;
        default: return SynParse::malformed;
    }
    if (r != SynParse::ok) return r;
    return parse_tcp(at, out);
}

}  // namespace pepsal
