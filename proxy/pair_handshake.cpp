#include "pair_handshake.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "pair_sodium.hpp"

namespace pepsal::pair {

namespace {

using Result = HandshakeStep::Result;

// magic "PEPL", version, flags, reserved: the fixed start of HELLO and CHALLENGE.
constexpr std::array<uint8_t, 8> PRELUDE = {'P', 'E', 'P', 'L', HANDSHAKE_VERSION, 0, 0, 0};
constexpr size_t NONCE_AT = PRELUDE.size();
constexpr size_t PROOF_A_AT = NONCE_AT + NONCE_BYTES;
constexpr std::string_view ACCEPTOR_LABEL = "pepsal-pair-v1 acceptor";
constexpr std::string_view INITIATOR_LABEL = "pepsal-pair-v1 initiator";

static_assert(PRELUDE.size() + NONCE_BYTES == HELLO_BYTES);
static_assert(PROOF_A_AT + PROOF_BYTES == CHALLENGE_BYTES);
static_assert(PROOF_BYTES == crypto_auth_hmacsha256_BYTES);

// Checks the prelude bytes received so far (the first `have` of the message), so that a peer
// speaking another protocol fails at its first wrong byte instead of stalling the lane.
HandshakeError check_prelude(const uint8_t* msg, size_t have) {
    size_t n = std::min(have, PRELUDE.size());
    for (size_t i = 0; i < n; ++i) {
        if (msg[i] == PRELUDE[i]) continue;
        if (i < 4) return HandshakeError::bad_magic;
        if (i == 4) return HandshakeError::bad_version;
        if (i == 5) return HandshakeError::bad_flags;
        return HandshakeError::bad_reserved;
    }
    return HandshakeError::none;
}

// Appends to `msg` (of which `have` bytes are filled) as much of `in` as the message still
// lacks; returns the bytes taken.
size_t take(std::span<uint8_t> msg, size_t& have, std::span<const uint8_t> in) {
    size_t n = std::min(msg.size() - have, in.size());
    if (n > 0) std::memcpy(msg.data() + have, in.data(), n);
    have += n;
    return n;
}

// HMAC-SHA256(key, label || first || second) into `out` (PROOF_BYTES).
void compute_proof(const Psk& key, std::string_view label, const uint8_t* first,
                   const uint8_t* second, uint8_t* out) {
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key.bytes().data(), key.bytes().size());
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const uint8_t*>(label.data()),
                                  label.size());
    crypto_auth_hmacsha256_update(&st, first, NONCE_BYTES);
    crypto_auth_hmacsha256_update(&st, second, NONCE_BYTES);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);  // holds the key's inner and outer pads
}

// Whether `proof` is HMAC(key, label || first || second), compared in constant time.
bool proof_matches(const Psk& key, std::string_view label, const uint8_t* first,
                   const uint8_t* second, const uint8_t* proof) {
    uint8_t expected[PROOF_BYTES];
    compute_proof(key, label, first, second, expected);
    return crypto_verify_32(expected, proof) == 0;
}

Nonce random_nonce() {
    ensure_sodium();
    Nonce n;
    randombytes_buf(n.data(), n.size());
    return n;
}

HandshakeStep step(Result r, size_t consumed, std::span<const uint8_t> output = {}) {
    return HandshakeStep{r, consumed, output, HandshakeError::none};
}

}  // namespace

const char* to_string(HandshakeError error) {
    switch (error) {
        case HandshakeError::none: return "no error";
        case HandshakeError::bad_magic: return "bad magic (not a pepsal pair peer)";
        case HandshakeError::bad_version: return "unsupported protocol version";
        case HandshakeError::bad_flags: return "unknown handshake flags";
        case HandshakeError::bad_reserved: return "nonzero reserved field";
        case HandshakeError::bad_proof: return "wrong proof (the peer has another key)";
        case HandshakeError::reflected_nonce:
            return "HELLO from this instance itself (looped lane)";
        case HandshakeError::truncated: return "peer closed in the middle of a message";
        case HandshakeError::closed: return "peer closed before its message";
        case HandshakeError::peer_rejected:
            return "initiator closed after our challenge (it refused our proof: keys differ?)";
    }
    return "unknown handshake error";
}

Initiator::Initiator(const Psk& key, NonceRegistry& registry)
    : key_(&key), nonce_i_(random_nonce()), claim_(registry, nonce_i_) {
    std::copy(PRELUDE.begin(), PRELUDE.end(), hello_.begin());
    std::copy(nonce_i_.begin(), nonce_i_.end(), hello_.begin() + NONCE_AT);
}

HandshakeStep Initiator::start() {
    if (state_ != State::fresh) throw std::logic_error("pair Initiator::start called twice");
    state_ = State::await_challenge;
    return step(Result::send, 0, hello_);
}

HandshakeStep Initiator::feed(std::span<const uint8_t> in) {
    switch (state_) {
        case State::fresh: throw std::logic_error("pair Initiator::feed before start");
        case State::failed: return fail(error_, 0);
        case State::done: return step(Result::done, 0);
        case State::await_challenge: break;
    }
    size_t used = take(in_, have_, in);
    if (HandshakeError e = check_prelude(in_.data(), have_); e != HandshakeError::none)
        return fail(e, used);
    if (have_ < CHALLENGE_BYTES) return step(Result::need_more, used);
    return finish(used);
}

// The whole CHALLENGE is in: check the acceptor's proof, answer with ours.
HandshakeStep Initiator::finish(size_t consumed) {
    const uint8_t* nonce_a = in_.data() + NONCE_AT;
    if (!proof_matches(*key_, ACCEPTOR_LABEL, nonce_i_.data(), nonce_a, in_.data() + PROOF_A_AT))
        return fail(HandshakeError::bad_proof, consumed);
    compute_proof(*key_, INITIATOR_LABEL, nonce_a, nonce_i_.data(), proof_.data());
    state_ = State::done;
    claim_.release();
    return step(Result::done, consumed, proof_);
}

HandshakeStep Initiator::eof() {
    switch (state_) {
        case State::done: return step(Result::done, 0);
        case State::failed: return fail(error_, 0);
        case State::fresh: return fail(HandshakeError::closed, 0);
        case State::await_challenge: break;
    }
    return fail(have_ > 0 ? HandshakeError::truncated : HandshakeError::closed, 0);
}

HandshakeStep Initiator::fail(HandshakeError error, size_t consumed) {
    state_ = State::failed;
    error_ = error;
    claim_.release();
    return HandshakeStep{Result::failed, consumed, {}, error};
}

Acceptor::Acceptor(const Psk& key, const NonceRegistry& registry)
    : key_(&key), registry_(&registry), nonce_a_(random_nonce()) {}

HandshakeStep Acceptor::feed(std::span<const uint8_t> in) {
    switch (state_) {
        case State::failed: return fail(error_, 0);
        case State::done: return step(Result::done, 0);
        case State::await_hello: {
            size_t used = take(std::span(in_).first(HELLO_BYTES), have_, in);
            if (HandshakeError e = check_prelude(in_.data(), have_); e != HandshakeError::none)
                return fail(e, used);
            return have_ < HELLO_BYTES ? step(Result::need_more, used) : on_hello(used);
        }
        case State::await_proof: {
            size_t used = take(std::span(in_).first(PROOF_BYTES), have_, in);
            return have_ < PROOF_BYTES ? step(Result::need_more, used) : on_proof(used);
        }
    }
    throw std::logic_error("pair Acceptor: corrupt state");
}

HandshakeStep Acceptor::on_hello(size_t consumed) {
    std::copy_n(in_.begin() + NONCE_AT, NONCE_BYTES, nonce_i_.begin());
    if (registry_->contains(nonce_i_)) return fail(HandshakeError::reflected_nonce, consumed);
    std::copy(PRELUDE.begin(), PRELUDE.end(), challenge_.begin());
    std::copy(nonce_a_.begin(), nonce_a_.end(), challenge_.begin() + NONCE_AT);
    compute_proof(*key_, ACCEPTOR_LABEL, nonce_i_.data(), nonce_a_.data(),
                  challenge_.data() + PROOF_A_AT);
    state_ = State::await_proof;
    have_ = 0;
    return step(Result::send, consumed, challenge_);
}

HandshakeStep Acceptor::on_proof(size_t consumed) {
    if (!proof_matches(*key_, INITIATOR_LABEL, nonce_a_.data(), nonce_i_.data(), in_.data()))
        return fail(HandshakeError::bad_proof, consumed);
    state_ = State::done;
    return step(Result::done, consumed);
}

HandshakeStep Acceptor::eof() {
    switch (state_) {
        case State::done: return step(Result::done, 0);
        case State::failed: return fail(error_, 0);
        case State::await_hello:
            return fail(have_ > 0 ? HandshakeError::truncated : HandshakeError::closed, 0);
        case State::await_proof:
            return fail(have_ > 0 ? HandshakeError::truncated : HandshakeError::peer_rejected, 0);
    }
    throw std::logic_error("pair Acceptor: corrupt state");
}

HandshakeStep Acceptor::fail(HandshakeError error, size_t consumed) {
    state_ = State::failed;
    error_ = error;
    return HandshakeStep{Result::failed, consumed, {}, error};
}

}  // namespace pepsal::pair
