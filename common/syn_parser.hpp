// Defensive parser for the IPv4/IPv6 + TCP SYN packets the queuer receives from NFQUEUE.
// Everything here reads untrusted bytes: it never reads past `len`, never trusts a length field.
#pragma once

#include <cstddef>
#include <cstdint>

#include "syn_record.hpp"

namespace pepsal {

enum class SynParse {
    ok,         // a TCP SYN (without ACK); `out` is filled
    not_tcp,    // well-formed IP whose payload is not TCP (or a non-first fragment)
    not_syn,    // TCP but not a bare SYN (SYN-ACK, plain ACK, ...)
    truncated,  // shorter than its headers claim
    malformed,  // a header or option field that cannot be valid
};

const char* to_string(SynParse result);

// Parses one layer-3 packet (starts at the IPv4 or IPv6 header, as NFQUEUE delivers it).
// IPv6 extension headers (hop-by-hop, routing, destination options, fragment) are walked.
// A malformed or truncated TCP option list yields `malformed`/`truncated`, never a partial record.
SynParse parse_syn(const uint8_t* pkt, size_t len, SynRecord& out);

}  // namespace pepsal
