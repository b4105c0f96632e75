// parse_syn on packets built byte by byte: every option, both IP versions, the IPv6 extension
// chain, and every way the lengths can lie. A hidden test case writes the fuzz seeds.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "syn_parser.hpp"

using pepsal::Endpoint;
using pepsal::parse_syn;
using pepsal::SynOptions;
using pepsal::SynParse;
using pepsal::SynRecord;
using Bytes = std::vector<uint8_t>;

namespace {

constexpr uint8_t FIN = 0x01, SYN = 0x02, RST = 0x04, ACK = 0x10, ECE = 0x40, CWR = 0x80;

void put16(Bytes& b, size_t at, uint16_t v) {
    b[at] = uint8_t(v >> 8);
    b[at + 1] = uint8_t(v);
}
void append(Bytes& b, const Bytes& more) { b.insert(b.end(), more.begin(), more.end()); }

Bytes opt_mss(uint16_t mss) { return {2, 4, uint8_t(mss >> 8), uint8_t(mss)}; }
Bytes opt_ws(uint8_t shift) { return {3, 3, shift}; }
Bytes opt_sack_perm() { return {4, 2}; }
Bytes opt_ts(uint32_t val) {
    return {8, 10, uint8_t(val >> 24), uint8_t(val >> 16), uint8_t(val >> 8), uint8_t(val), 0, 0, 0,
            0};
}
// What Linux puts in a SYN: MSS, SACK_PERM, TS, NOP, WS (20 bytes).
Bytes linux_options() {
    Bytes o = opt_mss(1460);
    append(o, opt_sack_perm());
    append(o, opt_ts(0x01020304));
    o.push_back(1);
    append(o, opt_ws(7));
    return o;
}

struct Tcp {
    uint16_t sport = 40000;
    uint16_t dport = 80;
    uint8_t flags = SYN;
    Bytes options;
    Bytes payload;
    int data_offset = -1;  // in 32-bit words; -1: computed from the options
};

// Options are padded with EOL to a multiple of 4, as a sender must.
Bytes tcp_segment(const Tcp& t) {
    Bytes opts = t.options;
    while (opts.size() % 4) opts.push_back(0);
    Bytes s(20, 0);
    put16(s, 0, t.sport);
    put16(s, 2, t.dport);
    s[12] = uint8_t((t.data_offset >= 0 ? t.data_offset : int(5 + opts.size() / 4)) << 4);
    s[13] = t.flags;
    put16(s, 14, 65535);
    append(s, opts);
    append(s, t.payload);
    return s;
}

struct V4 {
    const char* src = "192.0.2.1";
    const char* dst = "198.51.100.7";
    uint8_t proto = IPPROTO_TCP;
    Bytes ip_options;       // must be a multiple of 4
    uint16_t frag = 0;      // flags and offset field
    int ihl = -1;           // -1: computed
    int total = -1;         // -1: computed
};

Bytes ipv4(const V4& h, const Bytes& l4) {
    Bytes p(20, 0);
    append(p, h.ip_options);
    p[0] = uint8_t(0x40 | (h.ihl >= 0 ? h.ihl : int(5 + h.ip_options.size() / 4)));
    put16(p, 2, uint16_t(h.total >= 0 ? h.total : int(p.size() + l4.size())));
    put16(p, 6, h.frag);
    p[8] = 64;
    p[9] = h.proto;
    inet_pton(AF_INET, h.src, &p[12]);
    inet_pton(AF_INET, h.dst, &p[16]);
    append(p, l4);
    return p;
}

struct V6 {
    const char* src = "2001:db8::1";
    const char* dst = "2001:db8:1::80";
    uint8_t next = IPPROTO_TCP;  // first next-header value
    Bytes ext;                   // extension headers, already chained
    int payload_len = -1;        // -1: computed
};

Bytes ipv6(const V6& h, const Bytes& l4) {
    Bytes p(40, 0);
    p[0] = 0x60;
    put16(p, 4, uint16_t(h.payload_len >= 0 ? h.payload_len : int(h.ext.size() + l4.size())));
    p[6] = h.next;
    p[7] = 64;
    inet_pton(AF_INET6, h.src, &p[8]);
    inet_pton(AF_INET6, h.dst, &p[24]);
    append(p, h.ext);
    append(p, l4);
    return p;
}

// An options-type extension header (hop-by-hop, routing, destination) of 8 * (1 + units) bytes,
// filled with PadN so it is valid as hop-by-hop/destination options.
Bytes ext_header(uint8_t next, uint8_t units) {
    Bytes e(8 * (1 + size_t(units)), 0);
    e[0] = next;
    e[1] = units;
    e[2] = 1;  // PadN
    e[3] = uint8_t(e.size() - 4);
    return e;
}

Bytes frag_header(uint8_t next, uint16_t offset_units, bool more) {
    Bytes e(8, 0);
    e[0] = next;
    put16(e, 2, uint16_t(offset_units << 3 | (more ? 1 : 0)));
    e[7] = 0x2a;  // identification
    return e;
}

SynParse parse(const Bytes& p, SynRecord& out) { return parse_syn(p.data(), p.size(), out); }
SynParse parse(const Bytes& p) {
    SynRecord r;
    return parse(p, r);
}

Endpoint ep(const char* text) { return *Endpoint::parse(text); }

Bytes v4_syn(const Bytes& options) {
    Tcp t;
    t.options = options;
    return ipv4(V4{}, tcp_segment(t));
}
Bytes v6_syn(const Bytes& options) {
    Tcp t;
    t.options = options;
    return ipv6(V6{}, tcp_segment(t));
}

// A v6 SYN behind hop-by-hop, destination options and routing headers.
Bytes v6_chain_syn() {
    V6 h;
    h.next = IPPROTO_HOPOPTS;
    h.ext = ext_header(IPPROTO_DSTOPTS, 0);
    append(h.ext, ext_header(IPPROTO_ROUTING, 1));
    append(h.ext, ext_header(IPPROTO_TCP, 0));
    Tcp t;
    t.options = linux_options();
    return ipv6(h, tcp_segment(t));
}

}  // namespace

TEST_CASE("parse_syn: IPv4 SYN without options fills the endpoints", "[syn]") {
    SynRecord r;
    REQUIRE(parse(v4_syn({}), r) == SynParse::ok);
    CHECK(r.client == ep("192.0.2.1:40000"));
    CHECK(r.dest == ep("198.51.100.7:80"));
    CHECK(r.options.mss == 0);
    CHECK(r.options.wscale == SynOptions::NO_WSCALE);
    CHECK_FALSE(r.options.sack_permitted);
    CHECK_FALSE(r.options.timestamps);
}

TEST_CASE("parse_syn: each option alone", "[syn]") {
    SynRecord r;
    SECTION("MSS") {
        REQUIRE(parse(v4_syn(opt_mss(1380)), r) == SynParse::ok);
        CHECK(r.options.mss == 1380);
        CHECK(r.options.wscale == SynOptions::NO_WSCALE);
    }
    SECTION("window scale") {
        REQUIRE(parse(v4_syn(opt_ws(9)), r) == SynParse::ok);
        CHECK(r.options.wscale == 9);
        CHECK(r.options.mss == 0);
    }
    SECTION("SACK permitted") {
        REQUIRE(parse(v4_syn(opt_sack_perm()), r) == SynParse::ok);
        CHECK(r.options.sack_permitted);
        CHECK_FALSE(r.options.timestamps);
    }
    SECTION("timestamps") {
        REQUIRE(parse(v4_syn(opt_ts(0xdeadbeef)), r) == SynParse::ok);
        CHECK(r.options.timestamps);
        CHECK(r.options.tsval == 0xdeadbeef);
        CHECK_FALSE(r.options.sack_permitted);
    }
}

TEST_CASE("parse_syn: all options together, IPv4 and IPv6", "[syn]") {
    SynRecord r;
    SECTION("IPv4") {
        REQUIRE(parse(v4_syn(linux_options()), r) == SynParse::ok);
        CHECK(r.client.family() == AF_INET);
    }
    SECTION("IPv6") {
        REQUIRE(parse(v6_syn(linux_options()), r) == SynParse::ok);
        CHECK(r.client == ep("[2001:db8::1]:40000"));
        CHECK(r.dest == ep("[2001:db8:1::80]:80"));
    }
    CHECK(r.options.mss == 1460);
    CHECK(r.options.wscale == 7);
    CHECK(r.options.sack_permitted);
    CHECK(r.options.timestamps);
    CHECK(r.options.tsval == 0x01020304);
}

TEST_CASE("parse_syn: window scale above 14 is clamped to 14 (RFC 7323)", "[syn]") {
    auto shift = GENERATE(as<uint8_t>{}, 0, 1, 14, 15, 200, 255);
    SynRecord r;
    REQUIRE(parse(v4_syn(opt_ws(shift)), r) == SynParse::ok);
    CHECK(r.options.wscale == std::min<uint8_t>(shift, 14));
}

TEST_CASE("parse_syn: unknown options are skipped by their length, EOL ends the list", "[syn]") {
    SynRecord r;
    SECTION("TFO cookie and an experimental option before MSS") {
        Bytes o = {34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 254, 4, 0xf9, 0x89};
        append(o, opt_mss(1200));
        REQUIRE(parse(v4_syn(o), r) == SynParse::ok);
        CHECK(r.options.mss == 1200);
    }
    SECTION("bytes after EOL are not options") {
        Bytes o = opt_mss(1000);
        append(o, {0, 2, 1, 0});  // EOL, then what would be an MSS option of length 1
        REQUIRE(parse(v4_syn(o), r) == SynParse::ok);
        CHECK(r.options.mss == 1000);
    }
    SECTION("a run of NOPs") {
        Bytes o = {1, 1, 1};
        append(o, opt_ws(3));
        REQUIRE(parse(v4_syn(o), r) == SynParse::ok);
        CHECK(r.options.wscale == 3);
    }
}

TEST_CASE("parse_syn: flags decide SYN, not_syn or malformed", "[syn]") {
    auto ipv4_with = [](uint8_t flags) {
        Tcp t;
        t.flags = flags;
        t.options = opt_mss(1460);
        return ipv4(V4{}, tcp_segment(t));
    };
    CHECK(parse(ipv4_with(SYN)) == SynParse::ok);
    CHECK(parse(ipv4_with(SYN | ECE | CWR)) == SynParse::ok);  // ECN setup SYN
    CHECK(parse(ipv4_with(SYN | ACK)) == SynParse::not_syn);
    CHECK(parse(ipv4_with(ACK)) == SynParse::not_syn);
    CHECK(parse(ipv4_with(RST)) == SynParse::not_syn);
    CHECK(parse(ipv4_with(FIN | ACK)) == SynParse::not_syn);
    CHECK(parse(ipv4_with(0)) == SynParse::not_syn);
    CHECK(parse(ipv4_with(SYN | RST)) == SynParse::malformed);
    CHECK(parse(ipv4_with(SYN | FIN)) == SynParse::malformed);
    CHECK(parse(ipv4_with(SYN | RST | ACK)) == SynParse::not_syn);
}

TEST_CASE("parse_syn: other protocols are not_tcp", "[syn]") {
    Bytes udp(8, 0);
    V4 h4;
    h4.proto = IPPROTO_UDP;
    CHECK(parse(ipv4(h4, udp)) == SynParse::not_tcp);
    V6 h6;
    h6.next = IPPROTO_UDP;
    CHECK(parse(ipv6(h6, udp)) == SynParse::not_tcp);
    h6.next = IPPROTO_ICMPV6;
    CHECK(parse(ipv6(h6, udp)) == SynParse::not_tcp);
}

TEST_CASE("parse_syn: every prefix of a valid packet is truncated, never ok", "[syn]") {
    Tcp with_payload;
    with_payload.options = linux_options();
    with_payload.payload = Bytes(30, 0xab);  // a TCP Fast Open SYN carries data
    const Bytes packets[] = {v4_syn(linux_options()), v6_syn(linux_options()), v6_chain_syn(),
                             ipv4(V4{}, tcp_segment(with_payload))};
    for (const Bytes& full : packets) {
        REQUIRE(parse(full) == SynParse::ok);
        for (size_t n = 0; n < full.size(); ++n) {
            SynRecord r;
            r.options.mss = 4242;  // a sentinel: a failed parse must leave `out` alone
            Bytes prefix(full.begin(), full.begin() + long(n));
            INFO("prefix of " << n << " of " << full.size() << " bytes");
            CHECK(parse(prefix, r) == SynParse::truncated);
            CHECK(r.options.mss == 4242);
        }
    }
    CHECK(parse_syn(nullptr, 0, *std::make_unique<SynRecord>()) == SynParse::truncated);
}

TEST_CASE("parse_syn: bytes after the IP packet's length are ignored", "[syn]") {
    Bytes p4 = v4_syn(opt_mss(1400));
    p4.resize(p4.size() + 18, 0x02);  // looks like an option (kind 2) but is outside the packet
    SynRecord r;
    REQUIRE(parse(p4, r) == SynParse::ok);
    CHECK(r.options.mss == 1400);
    Bytes p6 = v6_syn(opt_mss(1220));
    p6.resize(p6.size() + 7, 0xff);
    REQUIRE(parse(p6, r) == SynParse::ok);
    CHECK(r.options.mss == 1220);
}

TEST_CASE("parse_syn: IPv4 header fields", "[syn]") {
    Tcp t;
    t.options = opt_mss(1460);
    Bytes seg = tcp_segment(t);
    V4 h;
    SECTION("IP options are skipped") {
        h.ip_options = {1, 1, 1, 0};  // NOP NOP NOP EOL
        CHECK(parse(ipv4(h, seg)) == SynParse::ok);
    }
    SECTION("IHL below 5") {
        h.ihl = GENERATE(0, 1, 4);
        CHECK(parse(ipv4(h, seg)) == SynParse::malformed);
    }
    SECTION("IHL larger than the total length") {
        h.ihl = 15;
        h.total = 40;
        CHECK(parse(ipv4(h, seg)) == SynParse::malformed);
    }
    SECTION("total length shorter than the header") {
        h.total = 19;
        CHECK(parse(ipv4(h, seg)) == SynParse::malformed);
    }
    SECTION("total length beyond the buffer") {
        h.total = int(20 + seg.size() + 1);
        CHECK(parse(ipv4(h, seg)) == SynParse::truncated);
    }
    SECTION("total length cutting the TCP options") {
        h.total = int(20 + seg.size() - 2);
        CHECK(parse(ipv4(h, seg)) == SynParse::truncated);
    }
    SECTION("version neither 4 nor 6") {
        Bytes p = ipv4(h, seg);
        p[0] = uint8_t((GENERATE(0, 5, 15) << 4) | 5);
        CHECK(parse(p) == SynParse::malformed);
    }
}

TEST_CASE("parse_syn: IPv4 fragments", "[syn]") {
    Tcp t;
    t.options = linux_options();
    V4 h;
    SECTION("first fragment with more-fragments set and a whole TCP header") {
        h.frag = 0x2000;
        CHECK(parse(ipv4(h, tcp_segment(t))) == SynParse::ok);
    }
    SECTION("first fragment that cuts the TCP options") {
        h.frag = 0x2000;
        h.total = 20 + 24;
        CHECK(parse(ipv4(h, tcp_segment(t))) == SynParse::truncated);
    }
    SECTION("non-first fragments") {
        h.frag = GENERATE(as<uint16_t>{}, 0x0001, 0x2001, 0x1fff, 0x4000 | 0x0100);
        CHECK(parse(ipv4(h, tcp_segment(t))) == SynParse::not_tcp);
    }
    SECTION("don't-fragment alone is an ordinary packet") {
        h.frag = 0x4000;
        CHECK(parse(ipv4(h, tcp_segment(t))) == SynParse::ok);
    }
}

TEST_CASE("parse_syn: TCP data offset", "[syn]") {
    Tcp t;
    t.options = opt_mss(1460);  // 24-byte header
    SECTION("below 5") {
        t.data_offset = GENERATE(0, 4);
        CHECK(parse(ipv4(V4{}, tcp_segment(t))) == SynParse::malformed);
        CHECK(parse(ipv6(V6{}, tcp_segment(t))) == SynParse::malformed);
    }
    SECTION("beyond the segment") {
        t.data_offset = 7;
        CHECK(parse(ipv4(V4{}, tcp_segment(t))) == SynParse::truncated);
        t.data_offset = 15;
        CHECK(parse(ipv6(V6{}, tcp_segment(t))) == SynParse::truncated);
    }
    SECTION("5 hides the options, which are then payload") {
        t.data_offset = 5;
        SynRecord r;
        REQUIRE(parse(ipv4(V4{}, tcp_segment(t)), r) == SynParse::ok);
        CHECK(r.options.mss == 0);
    }
}

TEST_CASE("parse_syn: option lengths that cannot be valid are malformed", "[syn]") {
    SECTION("length 0 and 1") {
        uint8_t kind = GENERATE(as<uint8_t>{}, 2, 3, 4, 8, 99);
        uint8_t len = GENERATE(as<uint8_t>{}, 0, 1);
        CHECK(parse(v4_syn({1, kind, len, 0})) == SynParse::malformed);
    }
    SECTION("an option running past the option area") {
        CHECK(parse(v4_syn({1, 1, 99, 4})) == SynParse::malformed);
        CHECK(parse(v4_syn({1, 8, 10, 0, 0, 0, 0, 0})) == SynParse::malformed);
        CHECK(parse(v6_syn({2, 40, 5, 0xb4})) == SynParse::malformed);
    }
    SECTION("a kind in the last byte, with no room for its length") {
        CHECK(parse(v4_syn({1, 1, 1, 2})) == SynParse::malformed);
    }
    SECTION("a malformed list after valid options leaves the record alone") {
        Bytes o = opt_mss(1400);
        append(o, {3, 3, 5, 8, 1});  // WS, then a timestamps option of length 1
        SynRecord r;
        r.options.mss = 4242;
        CHECK(parse(v4_syn(o), r) == SynParse::malformed);
        CHECK(r.options.mss == 4242);
        CHECK(r.options.wscale == SynOptions::NO_WSCALE);
    }
    SECTION("known kinds with the wrong length") {
        CHECK(parse(v4_syn({2, 3, 5, 1})) == SynParse::malformed);                 // MSS 3
        CHECK(parse(v4_syn({3, 4, 7, 0})) == SynParse::malformed);                 // WS 4
        CHECK(parse(v4_syn({4, 3, 0, 1})) == SynParse::malformed);                 // SACK_PERM 3
        CHECK(parse(v4_syn({8, 8, 0, 0, 0, 0, 0, 0})) == SynParse::malformed);     // TS 8
        CHECK(parse(v4_syn({8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})) == SynParse::malformed);
    }
}

TEST_CASE("parse_syn: IPv6 extension header chain", "[syn]") {
    SynRecord r;
    SECTION("hop-by-hop, destination options, routing, destination options") {
        REQUIRE(parse(v6_chain_syn(), r) == SynParse::ok);
        CHECK(r.client == ep("[2001:db8::1]:40000"));
        CHECK(r.options.mss == 1460);
        CHECK(r.options.wscale == 7);
    }
    Tcp t;
    t.options = opt_mss(1300);
    V6 h;
    SECTION("first fragment (offset 0, more set)") {
        h.next = IPPROTO_FRAGMENT;
        h.ext = frag_header(IPPROTO_TCP, 0, true);
        REQUIRE(parse(ipv6(h, tcp_segment(t)), r) == SynParse::ok);
        CHECK(r.options.mss == 1300);
    }
    SECTION("non-first fragment") {
        h.next = IPPROTO_DSTOPTS;
        h.ext = ext_header(IPPROTO_FRAGMENT, 0);
        append(h.ext, frag_header(IPPROTO_TCP, 185, GENERATE(true, false)));
        CHECK(parse(ipv6(h, tcp_segment(t))) == SynParse::not_tcp);
    }
    SECTION("hop-by-hop anywhere but first") {
        h.next = IPPROTO_DSTOPTS;
        h.ext = ext_header(IPPROTO_HOPOPTS, 0);
        append(h.ext, ext_header(IPPROTO_TCP, 0));
        CHECK(parse(ipv6(h, tcp_segment(t))) == SynParse::malformed);
    }
    SECTION("ESP, AH and no-next-header end the walk") {
        h.next = IPPROTO_HOPOPTS;
        h.ext = ext_header(GENERATE(as<uint8_t>{}, IPPROTO_ESP, IPPROTO_AH, IPPROTO_NONE), 0);
        CHECK(parse(ipv6(h, tcp_segment(t))) == SynParse::not_tcp);
    }
    SECTION("an extension header longer than the payload") {
        h.next = IPPROTO_DSTOPTS;
        h.ext = ext_header(IPPROTO_TCP, 0);
        h.ext[1] = 200;
        CHECK(parse(ipv6(h, tcp_segment(t))) == SynParse::truncated);
    }
    SECTION("payload length beyond the buffer") {
        h.payload_len = int(tcp_segment(t).size() + 1);
        CHECK(parse(ipv6(h, tcp_segment(t))) == SynParse::truncated);
    }
    SECTION("payload length that stops inside the chain") {
        h.next = IPPROTO_HOPOPTS;
        h.ext = ext_header(IPPROTO_TCP, 1);
        h.payload_len = 9;
        CHECK(parse(ipv6(h, tcp_segment(t))) == SynParse::truncated);
    }
}

TEST_CASE("parse_syn: to_string names every result", "[syn]") {
    std::set<std::string> names;
    for (SynParse p : {SynParse::ok, SynParse::not_tcp, SynParse::not_syn, SynParse::truncated,
                       SynParse::malformed})
        names.insert(pepsal::to_string(p));
    CHECK(names.size() == 5);
    CHECK(names.count("malformed") == 1);
}

// Random corruption of valid packets: meant for `make asan`, where an out-of-bounds read fails.
TEST_CASE("parse_syn: corrupted packets keep the record's invariants", "[syn]") {
    std::mt19937 rng(20240611);
    const Bytes seeds[] = {v4_syn(linux_options()), v6_chain_syn()};
    for (int round = 0; round < 20000; ++round) {
        Bytes p = seeds[round % 2];
        int flips = 1 + int(rng() % 4);
        for (int i = 0; i < flips; ++i) p[rng() % p.size()] = uint8_t(rng());
        p.resize(rng() % (p.size() + 1));
        SynRecord r;
        if (parse(p, r) != SynParse::ok) continue;
        REQUIRE((r.client.family() == AF_INET || r.client.family() == AF_INET6));
        REQUIRE(r.client.family() == r.dest.family());
        REQUIRE((r.options.wscale <= 14 || r.options.wscale == SynOptions::NO_WSCALE));
        REQUIRE(p.size() >= 40);
    }
}

// `build/pepsal-tests '[.seeds]'` rewrites test/fuzz/seeds/fuzz_syn from these builders
// (PEPSAL_SEED_DIR overrides the directory).
TEST_CASE("write fuzz seeds for fuzz_syn", "[.seeds]") {
    const char* env = std::getenv("PEPSAL_SEED_DIR");
    std::filesystem::path dir = env ? env : "test/fuzz/seeds/fuzz_syn";
    std::filesystem::create_directories(dir);
    Tcp tfo;
    tfo.options = linux_options();
    append(tfo.options, {34, 10, 1, 2, 3, 4, 5, 6, 7, 8});
    tfo.payload = Bytes(16, 'x');
    V6 frag;
    frag.next = IPPROTO_FRAGMENT;
    frag.ext = frag_header(IPPROTO_TCP, 0, true);
    Tcp plain;
    plain.options = opt_mss(1220);
    const std::pair<const char*, Bytes> seeds[] = {
        {"v4_linux_syn", v4_syn(linux_options())},
        {"v4_bare_syn", v4_syn({})},
        {"v4_tfo_syn", ipv4(V4{}, tcp_segment(tfo))},
        {"v6_linux_syn", v6_syn(linux_options())},
        {"v6_ext_chain_syn", v6_chain_syn()},
        {"v6_first_fragment_syn", ipv6(frag, tcp_segment(plain))},
    };
    for (const auto& [name, bytes] : seeds) {
        REQUIRE(parse(bytes) == SynParse::ok);
        std::ofstream f(dir / name, std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
        REQUIRE(f.good());
    }
}
