#include "args.hpp"

#include <charconv>

namespace pepsal::flowtool {

namespace {

// Parses "123", or with a suffix "64K", "200M", "1G"; std::nullopt on garbage or overflow.
std::optional<uint64_t> parse_number(const std::string& text, bool allow_suffix) {
    std::string digits = text;
    uint64_t scale = 1;
    if (allow_suffix && !text.empty()) {
        switch (text.back()) {
            case 'K':
            case 'k':
                scale = 1ull << 10;
                break;
            case 'M':
            case 'm':
                scale = 1ull << 20;
                break;
            case 'G':
            case 'g':
                scale = 1ull << 30;
                break;
        }
        if (scale != 1) digits.pop_back();
    }
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size())
        return std::nullopt;
    if (v > UINT64_MAX / scale) return std::nullopt;
    return v * scale;
}

}  // namespace

Args::Args(int argc, char** argv, const std::set<std::string>& valued,
           const std::set<std::string>& flags) {
    for (int i = 0; i < argc; ++i) {
        std::string word = argv[i];
        if (!word.starts_with("--")) throw UsageError("unexpected argument '" + word + "'");
        std::string key = word.substr(2);
        if (flags.count(key)) {
            flags_.insert(key);
        } else if (valued.count(key)) {
            if (i + 1 >= argc) throw UsageError("option --" + key + " needs a value");
            values_[key].push_back(argv[++i]);
        } else {
            throw UsageError("unknown option '" + word + "'");
        }
    }
}

std::string Args::str(const std::string& key, std::optional<std::string> def) const {
    auto it = values_.find(key);
    if (it != values_.end()) return it->second.back();
    if (!def) throw UsageError("option --" + key + " is required");
    return *def;
}

std::vector<std::string> Args::all(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
}

uint64_t Args::ranged(const std::string& key, bool allow_suffix, uint64_t min, uint64_t max,
                      std::optional<uint64_t> def) const {
    if (!has(key)) {
        if (!def) throw UsageError("option --" + key + " is required");
        return *def;
    }
    std::string text = str(key);
    auto v = parse_number(text, allow_suffix);
    if (!v) throw UsageError("--" + key + " " + text + ": not a number");
    if (*v < min || *v > max)
        throw UsageError("--" + key + " " + text + ": out of range [" + std::to_string(min) + ", " +
                         std::to_string(max) + "]");
    return *v;
}

uint64_t Args::num(const std::string& key, uint64_t min, uint64_t max,
                   std::optional<uint64_t> def) const {
    return ranged(key, false, min, max, def);
}

uint64_t Args::size(const std::string& key, uint64_t min, uint64_t max,
                    std::optional<uint64_t> def) const {
    return ranged(key, true, min, max, def);
}

Endpoint Args::endpoint(const std::string& key) const {
    return endpoint(str(key), key);
}

Endpoint Args::endpoint(const std::string& text, const std::string& key) const {
    auto e = Endpoint::parse(text);
    if (!e) throw UsageError("--" + key + " " + text + ": not ADDR:PORT or [V6]:PORT");
    return *e;
}

}  // namespace pepsal::flowtool
