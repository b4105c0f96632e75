// Parsing of the emulator's quantities (link rates, buffer sizes). Header-only so the unit tests,
// which do not link the linkemu objects, can check the same code the emulator runs.
#pragma once

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pepsal::linkemu {

namespace units_detail {

inline std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// Splits "12.5mbit" into 12.5 and "mbit"; std::nullopt when there is no leading number or the
// number is negative, infinite or NaN.
struct Quantity {
    double value;
    std::string unit;
};
inline std::optional<Quantity> split_quantity(std::string_view text) {
    std::string s = lower(text);
    double value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end == s.data() || !std::isfinite(value) || value < 0)
        return std::nullopt;
    return Quantity{value, s.substr(size_t(end - s.data()))};
}

}  // namespace units_detail

// A rate in bit/s. 0 stands for "unlimited": no serialization delay at all.
// Accepts "<n>bit", "<n>kbit", "<n>mbit", "<n>gbit" (decimal multiples, case-insensitive,
// fractions allowed: "1.5mbit") and "unlimited". Returns std::nullopt for anything else,
// including a zero or sub-1-bit/s rate, which would stall the link forever.
inline std::optional<uint64_t> parse_rate_bps(std::string_view text) {
    if (units_detail::lower(text) == "unlimited") return uint64_t{0};
    auto q = units_detail::split_quantity(text);
    if (!q) return std::nullopt;
    double mult = 0;
    if (q->unit == "bit")
        mult = 1;
    else if (q->unit == "kbit")
        mult = 1e3;
    else if (q->unit == "mbit")
        mult = 1e6;
    else if (q->unit == "gbit")
        mult = 1e9;
    else
        return std::nullopt;
    double bps = std::round(q->value * mult);
    if (bps < 1 || bps > 1e12) return std::nullopt;
    return uint64_t(bps);
}

// How a direction's bottleneck buffer is sized: an absolute byte count, a drain time at the
// link rate, or a multiple of the path's bandwidth-delay product.
struct BufferSpec {
    enum class Kind { bytes, ms, bdp, unlimited };
    Kind kind = Kind::bdp;
    double value = 1;
};

// Accepts "<n>b", "<n>kb" (1000 bytes), "<n>ms", "<x>bdp", "unlimited".
inline std::optional<BufferSpec> parse_buffer_spec(std::string_view text) {
    if (units_detail::lower(text) == "unlimited") return BufferSpec{BufferSpec::Kind::unlimited, 0};
    auto q = units_detail::split_quantity(text);
    if (!q || q->value <= 0) return std::nullopt;
    if (q->unit == "b") return BufferSpec{BufferSpec::Kind::bytes, q->value};
    if (q->unit == "kb") return BufferSpec{BufferSpec::Kind::bytes, q->value * 1e3};
    if (q->unit == "ms") return BufferSpec{BufferSpec::Kind::ms, q->value};
    if (q->unit == "bdp") return BufferSpec{BufferSpec::Kind::bdp, q->value};
    return std::nullopt;
}

// The buffer limit in bytes (0 = unlimited) for a link of `rate_bps` (0 = unlimited) whose
// path round-trip propagation delay is `rtt_ms`. Time-based sizes need a finite rate; with an
// unlimited rate nothing ever waits for serialization, so they resolve to unlimited.
inline uint64_t buffer_limit_bytes(const BufferSpec& spec, uint64_t rate_bps, double rtt_ms) {
    switch (spec.kind) {
        case BufferSpec::Kind::unlimited:
            return 0;
        case BufferSpec::Kind::bytes:
            return uint64_t(std::llround(spec.value));
        case BufferSpec::Kind::ms:
            return rate_bps == 0 ? 0 : uint64_t(std::llround(double(rate_bps) * spec.value / 8e3));
        case BufferSpec::Kind::bdp: {
            if (rate_bps == 0) return 0;
            auto bytes = uint64_t(std::llround(double(rate_bps) * rtt_ms * spec.value / 8e3));
            // A zero-delay path has no BDP; still let one full-size packet wait.
            return bytes < 1500 ? 1500 : bytes;
        }
    }
    return 0;
}

}  // namespace pepsal::linkemu
