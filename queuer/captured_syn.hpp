// Parsing what NFQUEUE captured, which is not always the whole packet: the queue copies at most
// its copy range, so a SYN carrying data (TCP Fast Open) arrives cut, with IP length fields that
// still describe the full packet.
#pragma once

#include <cstddef>
#include <cstdint>

#include "syn_parser.hpp"

namespace pepsal::queuer {

// parse_syn for a capture of `len` bytes taken with a copy range of `copy_range` bytes. A capture
// that filled the copy range is parsed as if the packet ended where the capture does, so that
// only headers and options must be complete; anything shorter is parsed exactly as it is.
SynParse parse_captured_syn(const uint8_t* pkt, size_t len, size_t copy_range, SynRecord& out);

}  // namespace pepsal::queuer
