// libFuzzer target for the SYN parser: no input may crash it or read outside the buffer
// (ASan), and an accepted packet must yield a record the queuer can store as is.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

#include "syn_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    pepsal::SynRecord rec;
    if (pepsal::parse_syn(data, size, rec) != pepsal::SynParse::ok) return 0;
    int family = rec.client.family();
    bool v4 = family == AF_INET;
    size_t min_bytes = v4 ? 20 + 20 : 40 + 20;  // IP header + TCP header
    bool sane = (v4 || family == AF_INET6) && rec.dest.family() == family &&
                size >= min_bytes && (data[0] >> 4) == (v4 ? 4 : 6) &&
                (rec.options.wscale <= 14 || rec.options.wscale == pepsal::SynOptions::NO_WSCALE);
    if (!sane) __builtin_trap();
    return 0;
}
