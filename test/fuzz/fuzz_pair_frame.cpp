// libFuzzer target for the pair frame decoder and the payload parsers: the input is the byte
// stream of one lane after its handshake.
// Properties: no crash or out-of-bounds access (ASan/UBSan); delivering the stream in one
// piece and in small varying pieces yields the same frames and the same error; every frame
// accepted re-encodes to exactly the bytes it came from (so the decoder accepts nothing the
// encoders could not produce), and so does every OPEN, JOIN and RST payload accepted; DATA and
// FIN fed to a ReorderBuffer never make it hold more than its capacity.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "pair_frame.hpp"
#include "pair_frame_decoder.hpp"
#include "pair_payload.hpp"
#include "pair_reorder.hpp"

using namespace pepsal::pair;
using Bytes = std::vector<uint8_t>;

namespace {

void require(bool ok) {
    if (!ok) __builtin_trap();
}

struct Seen {
    std::vector<FrameHeader> headers;
    std::vector<Bytes> payloads;
    FrameError error = FrameError::none;
};

// Decodes `in`, feeding pieces of the sizes `next_piece` returns.
template <typename Piece>
Seen decode(std::span<const uint8_t> in, Piece next_piece) {
    FrameDecoder d;
    Seen seen;
    Frame f;
    FrameDecoder::Status st = FrameDecoder::Status::need_more;
    while (st != FrameDecoder::Status::error) {
        while ((st = d.next(f)) == FrameDecoder::Status::frame) {
            seen.headers.push_back(f.header);
            seen.payloads.emplace_back(f.payload.begin(), f.payload.end());
        }
        if (st == FrameDecoder::Status::error || in.empty()) break;
        size_t took = d.feed(in.first(std::min(next_piece(), in.size())));
        require(took > 0);
        in = in.subspan(took);
    }
    seen.error = d.error();
    require((st == FrameDecoder::Status::error) == (seen.error != FrameError::none));
    return seen;
}

bool same_header(const FrameHeader& a, const FrameHeader& b) {
    return a.type == b.type && a.flags == b.flags && a.length == b.length && a.seq == b.seq;
}

// Re-encodes a payload the parser accepted; it must give back the original frame bytes.
void check_payload(const FrameHeader& h, const Bytes& payload, const uint8_t* original) {
    Bytes out(FRAME_HEADER_BYTES + payload.size());
    size_t n = 0;
    if (h.type == FrameType::open) {
        OpenPayload o;
        if (parse_open(payload, o) != PayloadError::none) return;
        n = encode_open(out, o);
    } else if (h.type == FrameType::join) {
        JoinPayload j;
        if (parse_join(payload, j) != PayloadError::none) return;
        n = encode_join(out, j);
    } else if (h.type == FrameType::rst) {
        RstReason r;
        if (parse_rst(payload, r) != PayloadError::none) return;
        n = encode_rst(out, r);
    } else {
        return;
    }
    require(n == out.size() && std::memcmp(out.data(), original, n) == 0);
}

void check_reorder(const Seen& seen) {
    ReorderBuffer rb(1 << 18);
    for (size_t i = 0; i < seen.headers.size(); ++i) {
        const FrameHeader& h = seen.headers[i];
        if (h.type == FrameType::data) (void)rb.accept(h.seq, seen.payloads[i]);
        if (h.type == FrameType::fin) (void)rb.set_fin(h.seq);
        require(rb.buffered() <= rb.capacity());
        std::span<const uint8_t> front = rb.front();
        require(front.size() <= rb.readable());
        rb.consume(front.size());
        require(!rb.fin_offset() || rb.delivered() <= *rb.fin_offset());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const uint8_t> in(data, size);
    Seen whole = decode(in, [&] { return size; });
    uint32_t state = uint32_t(size) * 2654435761u;
    Seen pieces = decode(in, [&] {
        state = state * 1103515245u + 12345u;
        return size_t(1 + (state >> 16) % 23);
    });
    require(whole.error == pieces.error && whole.headers.size() == pieces.headers.size());
    size_t at = 0;
    for (size_t i = 0; i < whole.headers.size(); ++i) {
        const FrameHeader& h = whole.headers[i];
        require(same_header(h, pieces.headers[i]) && whole.payloads[i] == pieces.payloads[i]);
        require(check_header(h) == FrameError::none && h.length == whole.payloads[i].size());
        Bytes header(FRAME_HEADER_BYTES);
        encode_header(header, h);
        require(std::memcmp(header.data(), data + at, FRAME_HEADER_BYTES) == 0);
        const uint8_t* payload = data + at + FRAME_HEADER_BYTES;
        require(h.length == 0 || std::memcmp(whole.payloads[i].data(), payload, h.length) == 0);
        check_payload(h, whole.payloads[i], data + at);
        at += FRAME_HEADER_BYTES + h.length;
    }
    check_reorder(whole);
    return 0;
}
