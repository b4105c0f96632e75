// Pair mode wire protocol v1: the lane handshake.
//
// Every lane is a fresh TCP connection from the initiator (the side that opened it) to the
// acceptor's pair-listen port. Before any frame (pair_frame.hpp) both sides prove that they
// hold the same pre-shared key (pair_psk.hpp). All integers are big-endian.
//
//   1. initiator -> HELLO, 40 bytes:
//        magic "PEPL" (4) | version u8 = 3 | flags u8 = 0 | reserved u16 = 0 | nonce_i (32)
//   2. acceptor -> CHALLENGE, 72 bytes:
//        magic "PEPL" (4) | version u8 = 3 | flags u8 = 0 | reserved u16 = 0 | nonce_a (32) |
//        proof_a (32) = HMAC-SHA256(key, "pepsal-pair-v1 acceptor" || nonce_i || nonce_a)
//   3. the initiator checks proof_a (constant time), then -> PROOF, 32 bytes:
//        proof_i = HMAC-SHA256(key, "pepsal-pair-v1 initiator" || nonce_a || nonce_i)
//   4. the acceptor checks proof_i; the lane is authenticated and frames follow at once.
//
// Nonces are 32 random bytes. Labels are their ASCII bytes without a terminator. The key is
// the key file's bytes (one trailing newline stripped), used as the HMAC key as it is.
// The distinct labels keep a proof of one role from being replayed as the other's. An acceptor
// refuses a HELLO whose nonce_i one of its own process's initiators has in flight
// (pair_nonce_registry.hpp): such a lane is looped back to the instance that opened it.
// Any mismatch (magic, version, flags, reserved, proof, a message cut short by EOF) fails the
// handshake with a reason and the lane is closed before anything else is sent on it. The magic
// and fixed bytes are checked as they arrive, so a stray client fails at its first wrong byte.
// Authentication only: frames are not encrypted (the flows are ordinary TCP traffic).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "pair_nonce_registry.hpp"
#include "pair_psk.hpp"

namespace pepsal::pair {

// 2: DATA may repeat bytes already sent (reinjection); version 1 receivers refused that.
// 3: a flow's clean end is DONE on every lane (not a TCP shutdown), and the lane then carries
//    the next flow (lane reuse); version 2 peers would take DONE for a protocol error.
constexpr uint8_t HANDSHAKE_VERSION = 4;
constexpr size_t HELLO_BYTES = 40;
constexpr size_t CHALLENGE_BYTES = 72;
constexpr size_t PROOF_BYTES = 32;

enum class HandshakeError {
    none,
    bad_magic,
    bad_version,
    bad_flags,
    bad_reserved,
    bad_proof,        // the peer does not hold our key
    reflected_nonce,  // HELLO from one of our own initiators
    truncated,        // EOF in the middle of a message
    closed,           // EOF before the peer's next message
    peer_rejected,    // acceptor: EOF right after our CHALLENGE, i.e. the initiator refused it
};

const char* to_string(HandshakeError error);

// What one call of a handshake machine asks the caller to do.
struct HandshakeStep {
    enum class Result {
        need_more,  // all input was taken; call feed() again when more arrives
        send,       // send `output`, then feed() the unconsumed rest of the input (if any)
        done,       // authenticated once `output` (possibly empty) is sent; the unconsumed
                    // rest of the input is the first bytes of the frame stream
        failed,     // close the lane; `error` says why
    };
    Result result = Result::need_more;
    size_t consumed = 0;                // input bytes used by this call
    std::span<const uint8_t> output;    // valid until the next call on the same machine
    HandshakeError error = HandshakeError::none;
};

// The side that opened the lane. Move-only; `key` and `registry` must outlive it.
class Initiator {
public:
    // Draws nonce_i and registers it in `registry` until the handshake ends.
    Initiator(const Psk& key, NonceRegistry& registry);

    HandshakeStep start();  // once, first: send HELLO
    HandshakeStep feed(std::span<const uint8_t> in);
    HandshakeStep eof();  // the peer closed the lane

private:
    enum class State { fresh, await_challenge, done, failed };
    HandshakeStep fail(HandshakeError error, size_t consumed);
    HandshakeStep finish(size_t consumed);

    const Psk* key_;
    Nonce nonce_i_;
    NonceClaim claim_;
    State state_ = State::fresh;
    HandshakeError error_ = HandshakeError::none;
    std::array<uint8_t, HELLO_BYTES> hello_;
    std::array<uint8_t, CHALLENGE_BYTES> in_;
    size_t have_ = 0;  // bytes of the CHALLENGE received
    std::array<uint8_t, PROOF_BYTES> proof_;
};

// The side that accepted the lane. Move-only; `key` and `registry` must outlive it.
class Acceptor {
public:
    Acceptor(const Psk& key, const NonceRegistry& registry);
    Acceptor(Acceptor&&) = default;
    Acceptor& operator=(Acceptor&&) = default;
    Acceptor(const Acceptor&) = delete;  // two machines must not answer one lane
    Acceptor& operator=(const Acceptor&) = delete;

    HandshakeStep feed(std::span<const uint8_t> in);
    HandshakeStep eof();  // the peer closed the lane

private:
    enum class State { await_hello, await_proof, done, failed };
    HandshakeStep fail(HandshakeError error, size_t consumed);
    HandshakeStep on_hello(size_t consumed);
    HandshakeStep on_proof(size_t consumed);

    const Psk* key_;
    const NonceRegistry* registry_;
    State state_ = State::await_hello;
    HandshakeError error_ = HandshakeError::none;
    Nonce nonce_i_{};
    Nonce nonce_a_;
    std::array<uint8_t, HELLO_BYTES> in_;  // the message being received (HELLO, then PROOF)
    size_t have_ = 0;
    std::array<uint8_t, CHALLENGE_BYTES> challenge_;
};

}  // namespace pepsal::pair
