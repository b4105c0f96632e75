// The lane handshake: both machines against each other and against messages built in the test
// from the specification; wrong keys, every tampered byte, truncation, reflection, partial
// reads (test_pair_handshake_tcp.cpp runs it over real TCP). A hidden test case writes fuzz
// seeds.
#include <sodium.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "pair_frame.hpp"
#include "pair_handshake.hpp"
#include "pair_sodium.hpp"

using namespace pepsal::pair;
using Bytes = std::vector<uint8_t>;
using Result = HandshakeStep::Result;

namespace {

Psk key_of(char fill, size_t n = 32) { return Psk(Bytes(n, uint8_t(fill))); }

Bytes bytes(std::span<const uint8_t> s) { return Bytes(s.begin(), s.end()); }
Bytes cat(Bytes a, const Bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}
Bytes slice(const Bytes& b, size_t at, size_t n) {
    return Bytes(b.begin() + long(at), b.begin() + long(at + n));
}

// HMAC-SHA256 over one concatenated message, written apart from the implementation.
Bytes hmac(const Psk& key, const std::string& label, const Bytes& a, const Bytes& b) {
    ensure_sodium();
    Bytes msg = cat(cat(Bytes(label.begin(), label.end()), a), b);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key.bytes().data(), key.bytes().size());
    crypto_auth_hmacsha256_update(&st, msg.data(), msg.size());
    Bytes out(32);
    crypto_auth_hmacsha256_final(&st, out.data());
    return out;
}

const Bytes PRELUDE = {'P', 'E', 'P', 'L', 4, 0, 0, 0};

// The three messages of one run, as they went over the wire.
struct Transcript {
    Bytes hello, challenge, proof;
    HandshakeStep initiator_end, acceptor_end;
};

// Runs both machines against each other, every message delivered whole.
Transcript run(const Psk& ki, const Psk& ka) {
    NonceRegistry ri, ra;
    Initiator ini(ki, ri);
    Acceptor acc(ka, ra);
    Transcript t;
    t.hello = bytes(ini.start().output);
    HandshakeStep s = acc.feed(t.hello);
    REQUIRE(s.result == Result::send);
    REQUIRE(s.consumed == HELLO_BYTES);
    t.challenge = bytes(s.output);
    t.initiator_end = ini.feed(t.challenge);
    t.proof = bytes(t.initiator_end.output);
    t.acceptor_end = t.initiator_end.result == Result::done ? acc.feed(t.proof) : acc.eof();
    return t;
}

}  // namespace

TEST_CASE("pair handshake: same key authenticates both ways", "[pair]") {
    Psk key = key_of('k');
    Transcript t = run(key, key);
    CHECK(t.hello.size() == HELLO_BYTES);
    CHECK(t.challenge.size() == CHALLENGE_BYTES);
    CHECK(t.initiator_end.result == Result::done);
    CHECK(t.initiator_end.consumed == CHALLENGE_BYTES);
    CHECK(t.proof.size() == PROOF_BYTES);
    CHECK(t.acceptor_end.result == Result::done);
    CHECK(t.acceptor_end.consumed == PROOF_BYTES);
    CHECK(t.acceptor_end.output.empty());
}

TEST_CASE("pair handshake: messages follow the specification byte for byte", "[pair]") {
    Psk key = Psk(Bytes(45, 0x5a));  // keys longer than 32 bytes are used as they are
    Transcript t = run(key, key);
    REQUIRE(t.acceptor_end.result == Result::done);
    CHECK(slice(t.hello, 0, 8) == PRELUDE);
    CHECK(slice(t.challenge, 0, 8) == PRELUDE);
    Bytes nonce_i = slice(t.hello, 8, 32), nonce_a = slice(t.challenge, 8, 32);
    CHECK(nonce_i != nonce_a);
    CHECK(slice(t.challenge, 40, 32) == hmac(key, "pepsal-pair-v1 acceptor", nonce_i, nonce_a));
    CHECK(t.proof == hmac(key, "pepsal-pair-v1 initiator", nonce_a, nonce_i));
    // Fresh nonces on every run.
    Transcript again = run(key, key);
    CHECK(slice(again.hello, 8, 32) != nonce_i);
    CHECK(slice(again.challenge, 8, 32) != nonce_a);
}

TEST_CASE("pair handshake: wrong key fails on the side that checks the proof", "[pair]") {
    Psk mine = key_of('a'), theirs = key_of('b');
    SECTION("the initiator detects a wrong acceptor proof") {
        Transcript t = run(mine, theirs);
        CHECK(t.initiator_end.result == Result::failed);
        CHECK(t.initiator_end.error == HandshakeError::bad_proof);
        CHECK(t.proof.empty());  // nothing is sent after a failure
        // The acceptor sees the initiator close right after its challenge.
        CHECK(t.acceptor_end.result == Result::failed);
        CHECK(t.acceptor_end.error == HandshakeError::peer_rejected);
    }
    SECTION("the acceptor detects a wrong initiator proof") {
        // An initiator built from the specification that holds another key.
        NonceRegistry reg;
        Acceptor acc(mine, reg);
        Bytes nonce_i(32, 7);
        HandshakeStep s = acc.feed(cat(PRELUDE, nonce_i));
        REQUIRE(s.result == Result::send);
        Bytes nonce_a = slice(bytes(s.output), 8, 32);
        HandshakeStep end = acc.feed(hmac(theirs, "pepsal-pair-v1 initiator", nonce_a, nonce_i));
        CHECK(end.result == Result::failed);
        CHECK(end.error == HandshakeError::bad_proof);
        // And the right key passes the same way.
        Acceptor acc2(mine, reg);
        s = acc2.feed(cat(PRELUDE, nonce_i));
        nonce_a = slice(bytes(s.output), 8, 32);
        CHECK(acc2.feed(hmac(mine, "pepsal-pair-v1 initiator", nonce_a, nonce_i)).result ==
              Result::done);
    }
    SECTION("a proof made for the other role is refused") {
        NonceRegistry reg;
        Acceptor acc(mine, reg);
        Bytes nonce_i(32, 9);
        HandshakeStep s = acc.feed(cat(PRELUDE, nonce_i));
        Bytes nonce_a = slice(bytes(s.output), 8, 32);
        CHECK(acc.feed(hmac(mine, "pepsal-pair-v1 acceptor", nonce_a, nonce_i)).error ==
              HandshakeError::bad_proof);
    }
}

namespace {

// What a receiver reports when byte `i` of a HELLO or CHALLENGE is changed.
HandshakeError tamper_error(size_t i) {
    if (i < 4) return HandshakeError::bad_magic;
    if (i == 4) return HandshakeError::bad_version;
    if (i == 5) return HandshakeError::bad_flags;
    if (i < 8) return HandshakeError::bad_reserved;
    return HandshakeError::bad_proof;
}

}  // namespace

TEST_CASE("pair handshake: every tampered HELLO byte is detected", "[pair]") {
    Psk key = key_of('t');
    for (size_t i = 0; i < HELLO_BYTES; ++i) {
        INFO("HELLO byte " << i);
        NonceRegistry r1, r2;
        Initiator ini(key, r1);
        Acceptor acc(key, r2);
        Bytes hello = bytes(ini.start().output);
        hello[i] ^= 0x01;
        HandshakeStep s = acc.feed(hello);
        if (i < 8) {
            CHECK(s.result == Result::failed);
            CHECK(s.error == tamper_error(i));
            CHECK(s.consumed == HELLO_BYTES);
            continue;
        }
        // A changed nonce_i: the acceptor's proof covers what it received, the initiator refuses.
        REQUIRE(s.result == Result::send);
        HandshakeStep e = ini.feed(s.output);
        CHECK(e.result == Result::failed);
        CHECK(e.error == HandshakeError::bad_proof);
    }
}

TEST_CASE("pair handshake: every tampered CHALLENGE byte is detected", "[pair]") {
    Psk key = key_of('t');
    for (size_t i = 0; i < CHALLENGE_BYTES; ++i) {
        INFO("CHALLENGE byte " << i);
        NonceRegistry r1, r2;
        Initiator ini(key, r1);
        Acceptor acc(key, r2);
        Bytes challenge = bytes(acc.feed(ini.start().output).output);
        challenge[i] ^= 0x80;
        HandshakeStep e = ini.feed(challenge);
        CHECK(e.result == Result::failed);
        CHECK(e.error == tamper_error(i));
        CHECK(e.output.empty());
    }
}

TEST_CASE("pair handshake: every tampered PROOF byte is detected", "[pair]") {
    Psk key = key_of('t');
    for (size_t i = 0; i < PROOF_BYTES; ++i) {
        INFO("PROOF byte " << i);
        NonceRegistry r1, r2;
        Initiator ini(key, r1);
        Acceptor acc(key, r2);
        HandshakeStep s = acc.feed(ini.start().output);
        Bytes proof = bytes(ini.feed(s.output).output);
        proof[i] ^= 0x10;
        HandshakeStep e = acc.feed(proof);
        CHECK(e.result == Result::failed);
        CHECK(e.error == HandshakeError::bad_proof);
    }
}

TEST_CASE("pair handshake: a stranger fails at its first wrong byte", "[pair]") {
    NonceRegistry reg;
    Psk key = key_of('s');
    Acceptor acc(key, reg);
    const std::string get = "GET / HTTP/1.0\r\n\r\n";
    HandshakeStep s = acc.feed(Bytes(get.begin(), get.end()));
    CHECK(s.result == Result::failed);
    CHECK(s.error == HandshakeError::bad_magic);
    // Version 1 (whose receivers refused reinjected copies) is refused as soon as byte 4
    // arrives, without waiting for the rest.
    Acceptor acc2(key, reg);
    CHECK(acc2.feed(Bytes{'P', 'E', 'P', 'L'}).result == Result::need_more);
    HandshakeStep v = acc2.feed(Bytes{1});
    CHECK(v.error == HandshakeError::bad_version);
    CHECK(v.consumed == 1);
    // The failure is sticky and consumes nothing more.
    HandshakeStep again = acc2.feed(Bytes(50, 0));
    CHECK(again.result == Result::failed);
    CHECK(again.error == HandshakeError::bad_version);
    CHECK(again.consumed == 0);
}

TEST_CASE("pair handshake: byte-by-byte delivery and bytes left for the frames", "[pair]") {
    Psk key = key_of('p');
    NonceRegistry r1, r2;
    Initiator ini(key, r1);
    Acceptor acc(key, r2);
    Bytes hello = bytes(ini.start().output);
    HandshakeStep s;
    for (size_t i = 0; i < HELLO_BYTES; ++i) {
        s = acc.feed(Bytes{hello[i]});
        CHECK(s.consumed == 1);
        if (i + 1 < HELLO_BYTES) REQUIRE(s.result == Result::need_more);
    }
    REQUIRE(s.result == Result::send);
    Bytes challenge = bytes(s.output);
    for (size_t i = 0; i + 1 < CHALLENGE_BYTES; ++i)
        REQUIRE(ini.feed(Bytes{challenge[i]}).result == Result::need_more);
    // The last CHALLENGE byte arrives with bytes that are not the initiator's to take.
    HandshakeStep done_i = ini.feed(Bytes{challenge.back(), 0xde, 0xad});
    REQUIRE(done_i.result == Result::done);
    CHECK(done_i.consumed == 1);
    Bytes proof = bytes(done_i.output);
    // PROOF and the first frame arrive in one read: the acceptor takes exactly the proof.
    Bytes window(16);
    encode_window(window, 12345);
    HandshakeStep done_a = acc.feed(cat(proof, window));
    REQUIRE(done_a.result == Result::done);
    CHECK(done_a.consumed == PROOF_BYTES);
    CHECK(acc.feed(window).consumed == 0);  // done: the rest belongs to the frames
    CHECK(ini.feed(window).result == Result::done);
}

TEST_CASE("pair handshake: truncated messages wait, then fail at EOF", "[pair]") {
    Psk key = key_of('e');
    SECTION("acceptor, nothing received") {
        NonceRegistry reg;
        Acceptor acc(key, reg);
        CHECK(acc.eof().error == HandshakeError::closed);
    }
    SECTION("acceptor, HELLO cut short") {
        NonceRegistry r1, r2;
        Initiator ini(key, r1);
        Acceptor acc(key, r2);
        Bytes hello = bytes(ini.start().output);
        CHECK(acc.feed(slice(hello, 0, HELLO_BYTES - 1)).result == Result::need_more);
        HandshakeStep e = acc.eof();
        CHECK(e.result == Result::failed);
        CHECK(e.error == HandshakeError::truncated);
    }
    SECTION("acceptor, PROOF cut short") {
        NonceRegistry r1, r2;
        Initiator ini(key, r1);
        Acceptor acc(key, r2);
        Bytes proof = bytes(ini.feed(acc.feed(ini.start().output).output).output);
        CHECK(acc.feed(slice(proof, 0, 31)).result == Result::need_more);
        CHECK(acc.eof().error == HandshakeError::truncated);
    }
    SECTION("initiator, nothing received") {
        NonceRegistry reg;
        Initiator ini(key, reg);
        ini.start();
        CHECK(ini.feed({}).result == Result::need_more);
        CHECK(ini.eof().error == HandshakeError::closed);
    }
    SECTION("initiator, CHALLENGE cut short") {
        NonceRegistry r1, r2;
        Initiator ini(key, r1);
        Acceptor acc(key, r2);
        Bytes challenge = bytes(acc.feed(ini.start().output).output);
        CHECK(ini.feed(slice(challenge, 0, 40)).result == Result::need_more);
        HandshakeStep e = ini.eof();
        CHECK(e.result == Result::failed);
        CHECK(e.error == HandshakeError::truncated);
        CHECK(ini.feed(slice(challenge, 40, 32)).result == Result::failed);  // sticky
    }
    SECTION("EOF after success is the frame layer's business") {
        NonceRegistry r1, r2;
        Initiator ini(key, r1);
        Acceptor acc(key, r2);
        acc.feed(ini.feed(acc.feed(ini.start().output).output).output);
        CHECK(acc.eof().result == Result::done);
        CHECK(ini.eof().result == Result::done);
    }
}

TEST_CASE("pair handshake: a HELLO from our own initiator is refused", "[pair]") {
    Psk key = key_of('r');
    NonceRegistry ours;
    std::optional<Initiator> ini(std::in_place, key, ours);
    CHECK(ours.size() == 1);
    Acceptor looped(key, ours);
    Bytes hello = bytes(ini->start().output);
    HandshakeStep s = looped.feed(hello);
    CHECK(s.result == Result::failed);
    CHECK(s.error == HandshakeError::reflected_nonce);
    CHECK(s.output.empty());  // no CHALLENGE: our proof is never computed for our own nonce
    // The same HELLO is fine for another instance's acceptor.
    NonceRegistry theirs;
    Acceptor remote(key, theirs);
    HandshakeStep c = remote.feed(hello);
    REQUIRE(c.result == Result::send);
    REQUIRE(ini->feed(c.output).result == Result::done);
    CHECK(ours.size() == 0);  // a finished handshake no longer claims its nonce
    // Failed and destroyed initiators release their nonce too.
    Initiator failing(key, ours);
    Initiator dropped(key, ours);
    CHECK(ours.size() == 2);
    failing.start();
    failing.eof();
    CHECK(ours.size() == 1);
    { Initiator moved(std::move(dropped)); }
    CHECK(ours.size() == 0);
}

TEST_CASE("pair handshake: misuse of the initiator throws", "[pair]") {
    Psk key = key_of('m');
    NonceRegistry reg;
    Initiator ini(key, reg);
    CHECK_THROWS_AS(ini.feed(Bytes(1)), std::logic_error);
    ini.start();
    CHECK_THROWS_AS(ini.start(), std::logic_error);
}

TEST_CASE("pair handshake: a key is at least 32 bytes", "[pair]") {
    CHECK_THROWS_AS(Psk(Bytes(31, 1)), PskError);
    CHECK_THROWS_AS(Psk(Bytes{}), PskError);
    CHECK_THROWS_AS(Psk(Bytes(MAX_PSK_BYTES + 1, 1)), PskError);
    CHECK(Psk(Bytes(32, 1)).bytes().size() == 32);
}

// `build/pepsal-tests '[.seeds]'` rewrites test/fuzz/seeds/fuzz_pair_handshake; the input
// format is described in test/fuzz/fuzz_pair_handshake.cpp.
TEST_CASE("write fuzz seeds for fuzz_pair_handshake", "[.seeds]") {
    const char* env = std::getenv("PEPSAL_SEED_DIR");
    std::filesystem::path dir = env ? env : "test/fuzz/seeds/fuzz_pair_handshake";
    std::filesystem::create_directories(dir);
    auto write = [&](const char* name, const Bytes& b) {
        std::ofstream(dir / name, std::ios::binary)
            .write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
    };
    Psk key = key_of('k');
    Transcript t = run(key, key);
    write("acceptor_hello", cat(Bytes{0, 0}, cat(t.hello, t.proof)));
    write("acceptor_hello_bytewise", cat(Bytes{0, 1}, t.hello));
    write("initiator_challenge", cat(Bytes{1, 3}, t.challenge));
    write("initiator_bad_version", Bytes{1, 0, 'P', 'E', 'P', 'L', 9});
    write("exchange_clean", Bytes{2, 5});
    write("exchange_flip_hello_nonce", Bytes{2, 0, 0, 20, 0x01});
    write("exchange_flip_proof", Bytes{2, 7, 2, 31, 0x80, 2, 0, 0x01});
    write("exchange_cut_challenge", Bytes{2, 2, 4, 60, 0});
    write("exchange_cut_hello", Bytes{2, 0, 3, 39, 0});
}
