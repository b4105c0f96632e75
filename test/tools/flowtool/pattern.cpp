#include "pattern.hpp"

#include <endian.h>

#include <algorithm>
#include <cstring>

namespace pepsal::flowtool {

namespace {

constexpr size_t WORD_BYTES = 8;
constexpr size_t HASH_CHUNK_BYTES = 64 * 1024;

uint64_t pattern_word(uint64_t seed, uint64_t index) {
    uint64_t z = seed + (index + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

}  // namespace

void fill_pattern(uint64_t seed, uint64_t offset, uint8_t* buf, size_t len) {
    while (len > 0) {
        uint64_t index = offset / WORD_BYTES;
        size_t skip = offset % WORD_BYTES;
        // Little-endian on every host so both ends agree whatever their byte order.
        uint64_t word = htole64(pattern_word(seed, index));
        size_t n = std::min(len, WORD_BYTES - skip);
        std::memcpy(buf, reinterpret_cast<const uint8_t*>(&word) + skip, n);
        buf += n;
        offset += n;
        len -= n;
    }
}

std::string Sha256::hex_final() {
    uint8_t digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&state_, digest);
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    return hex;
}

std::string pattern_sha256(uint64_t seed, uint64_t len) {
    Sha256 sha;
    std::vector<uint8_t> buf(HASH_CHUNK_BYTES);
    for (uint64_t off = 0; off < len;) {
        size_t n = size_t(std::min<uint64_t>(buf.size(), len - off));
        fill_pattern(seed, off, buf.data(), n);
        sha.update(buf.data(), n);
        off += n;
    }
    return sha.hex_final();
}

void PatternChecker::update(const uint8_t* data, size_t len) {
    sha_.update(data, len);
    if (matches()) {
        expected_.resize(std::max(expected_.size(), len));
        fill_pattern(seed_, bytes_, expected_.data(), len);
        if (std::memcmp(expected_.data(), data, len) != 0) {
            size_t i = 0;
            while (expected_[i] == data[i]) ++i;
            first_mismatch_ = bytes_ + i;
        }
    }
    bytes_ += len;
}

}  // namespace pepsal::flowtool
