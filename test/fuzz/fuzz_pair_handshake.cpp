// libFuzzer target for the lane handshake machines. Input:
//   byte 0: mode (mod 3); byte 1: bytes per feed() call, 0 = all at once; then
//   mode 0: bytes sent to an Acceptor, then EOF;
//   mode 1: bytes sent to an Initiator after its HELLO, then EOF;
//   mode 2: a real Initiator/Acceptor exchange (same key) whose messages are edited in transit
//           by 3-byte ops: (op, position, value) with message = op % 3 (HELLO, CHALLENGE,
//           PROOF) and (op / 3) % 2 = 0: XOR the byte at position % size with value,
//           1: cut the message to position % size bytes (the sender then closes).
// Properties: no crash or out-of-bounds access (ASan/UBSan); need_more takes all its input and
// no step takes more than it was given; random bytes never authenticate (done would mean a
// forged HMAC); in an exchange, a side is done exactly when every message its proof check
// covers arrived unedited.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "pair_handshake.hpp"

using namespace pepsal::pair;
using Result = HandshakeStep::Result;
using Bytes = std::vector<uint8_t>;

namespace {

void require(bool ok) {
    if (!ok) __builtin_trap();
}

const Psk& fuzz_key() {
    static const Psk key(Bytes(32, 0x42));
    return key;
}

// Delivers `in` in chunks of `chunk` bytes (0: whole) the way a lane loop would: after a send
// the rest of the read is fed again. Stops at done or failed; EOF if `close` or nothing ends it.
template <typename Machine>
HandshakeStep deliver(Machine& m, std::span<const uint8_t> in, size_t chunk, bool close) {
    HandshakeStep last;
    while (!in.empty()) {
        std::span<const uint8_t> piece = in.first(chunk ? std::min(chunk, in.size()) : in.size());
        in = in.subspan(piece.size());
        for (;;) {
            last = m.feed(piece);
            require(last.consumed <= piece.size());
            piece = piece.subspan(last.consumed);
            if (last.result == Result::failed || last.result == Result::done) return last;
            if (last.result == Result::need_more) {
                require(piece.empty());
                break;
            }
            require(last.output.size() == CHALLENGE_BYTES);  // only an Acceptor sends midway
            if (piece.empty()) break;
        }
    }
    if (close) return m.eof();
    return last;
}

void raw_acceptor(std::span<const uint8_t> in, size_t chunk) {
    NonceRegistry reg;
    Acceptor acc(fuzz_key(), reg);
    HandshakeStep s = deliver(acc, in, chunk, true);
    require(s.result == Result::failed);
    require(s.error != HandshakeError::none);
}

void raw_initiator(std::span<const uint8_t> in, size_t chunk) {
    NonceRegistry reg;
    Initiator ini(fuzz_key(), reg);
    require(ini.start().output.size() == HELLO_BYTES);
    HandshakeStep s = deliver(ini, in, chunk, true);
    require(s.result == Result::failed);
    require(reg.size() == 0);
}

struct Edits {
    std::span<const uint8_t> ops;
    // Applies the ops for message `msg`; returns whether the bytes changed, sets `cut`.
    bool apply(int msg, Bytes& b, bool& cut) const {
        Bytes original = b;
        cut = false;
        for (size_t i = 0; i + 3 <= ops.size(); i += 3) {
            if (ops[i] % 3 != msg || b.empty()) continue;
            size_t pos = ops[i + 1] % b.size();
            if ((ops[i] / 3) % 2 == 0) {
                b[pos] ^= ops[i + 2];
            } else {
                b.resize(pos);
                cut = true;
            }
        }
        return cut || b != original;
    }
};

void exchange(std::span<const uint8_t> ops, size_t chunk) {
    Edits edits{ops};
    NonceRegistry ri, ra;
    Initiator ini(fuzz_key(), ri);
    Acceptor acc(fuzz_key(), ra);
    bool cut = false;
    std::span<const uint8_t> sent = ini.start().output;
    Bytes hello(sent.begin(), sent.end());
    bool tampered = edits.apply(0, hello, cut);
    HandshakeStep a = deliver(acc, hello, chunk, cut);
    HandshakeStep i;
    if (a.result == Result::send) {
        Bytes challenge(a.output.begin(), a.output.end());
        tampered |= edits.apply(1, challenge, cut);
        i = deliver(ini, challenge, chunk, cut);
    } else {
        i = ini.eof();  // the acceptor failed and closed the lane
    }
    require(i.result == Result::done || i.result == Result::failed);
    require(i.result != Result::done || !tampered);  // HELLO and CHALLENGE arrived unedited
    if (i.result == Result::done) {
        Bytes proof(i.output.begin(), i.output.end());
        tampered |= edits.apply(2, proof, cut);
        a = deliver(acc, proof, chunk, cut);
    } else if (a.result == Result::send) {
        a = acc.eof();  // the initiator refused the challenge and closed
    }
    require((a.result == Result::done) == !tampered);
    require(ri.size() == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    std::span<const uint8_t> rest(data + 2, size - 2);
    switch (data[0] % 3) {
        case 0: raw_acceptor(rest, data[1]); break;
        case 1: raw_initiator(rest, data[1]); break;
        default: exchange(rest, data[1]); break;
    }
    return 0;
}
