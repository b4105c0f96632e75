#include "protocol.hpp"

#include <charconv>
#include <vector>

namespace pepsal::flowtool {

namespace {

constexpr std::pair<Mode, const char*> MODE_NAMES[] = {
    {Mode::upload, "upload"}, {Mode::download, "download"},
    {Mode::both, "both"},     {Mode::echo, "echo"},
    {Mode::rr, "rr"},         {Mode::reset_after, "reset-after"},
    {Mode::hold, "hold"},     {Mode::watch, "watch"},
    {Mode::report, "report"},
};

std::vector<std::string_view> split_spaces(std::string_view s) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size()) {
        size_t j = s.find(' ', i);
        if (j == std::string_view::npos) j = s.size();
        out.push_back(s.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

std::optional<uint64_t> parse_u64(std::string_view s) {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

bool is_sha256_hex(std::string_view s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

}  // namespace

const char* mode_name(Mode m) {
    for (auto& [mode, name] : MODE_NAMES)
        if (mode == m) return name;
    return "?";
}

std::optional<Mode> parse_mode(std::string_view name) {
    for (auto& [mode, text] : MODE_NAMES)
        if (name == text) return mode;
    return std::nullopt;
}

std::string format_request(const Request& r) {
    return std::string(mode_name(r.mode)) + " " + std::to_string(r.n) + " " +
           std::to_string(r.seed) + "\n";
}

std::optional<Request> parse_request(std::string_view line) {
    auto words = split_spaces(line);
    if (words.size() != 3) return std::nullopt;
    auto mode = parse_mode(words[0]);
    auto n = parse_u64(words[1]);
    auto seed = parse_u64(words[2]);
    if (!mode || !n || !seed) return std::nullopt;
    return Request{*mode, *n, *seed};
}

std::string format_reply(const Reply& r) {
    return "bytes=" + std::to_string(r.bytes) + " sha256=" + r.sha256 + " peer=" + r.peer + "\n";
}

std::optional<Reply> parse_reply(std::string_view line) {
    auto words = split_spaces(line);
    if (words.size() != 3) return std::nullopt;
    if (!words[0].starts_with("bytes=") || !words[1].starts_with("sha256=") ||
        !words[2].starts_with("peer="))
        return std::nullopt;
    auto bytes = parse_u64(words[0].substr(6));
    std::string_view sha = words[1].substr(7);
    if (!bytes || !is_sha256_hex(sha)) return std::nullopt;
    return Reply{*bytes, std::string(sha), std::string(words[2].substr(5))};
}

}  // namespace pepsal::flowtool
