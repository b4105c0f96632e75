#include "config_keys.hpp"

#include <stdexcept>

#include "config_values.hpp"

namespace pepsal {

namespace cv = config_values;

namespace {

std::string hex(uint32_t v) {
    char buf[16];
    snprintf(buf, sizeof buf, "0x%x", v);
    return buf;
}
std::string yes_no(bool b) { return b ? "yes" : "no"; }
std::string secs(uint32_t ms) { return std::to_string(ms / 1000); }
std::string cc_name(const std::string& cc) { return cc.empty() ? "default" : cc; }

log::Level parse_level(const std::string& v) {
    static const char* names[] = {"error", "warning", "notice", "info", "debug"};
    for (int i = 0; i < 5; ++i)
        if (v == names[i]) return log::Level(i);
    throw std::invalid_argument("expected error, warning, notice, info or debug");
}
std::string level_name(log::Level l) {
    static const char* names[] = {"error", "warning", "notice", "info", "debug"};
    return names[int(l)];
}

std::string parse_shm_name(const std::string& v) {
    bool ok = !v.empty() && v.size() <= 64;
    for (char c : v) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
    if (!ok) throw std::invalid_argument("expected 1 to 64 letters, digits, '-', '_' or '.'");
    return v;
}

std::string parse_path(const std::string& v) {
    if (v.empty() || v[0] != '/') throw std::invalid_argument("expected an absolute path");
    return v;
}

Endpoint parse_endpoint_or_empty(const std::string& v) {
    if (v.empty()) return Endpoint{};
    auto e = Endpoint::parse(v);
    if (!e || e->port() == 0) throw std::invalid_argument("expected ADDR:PORT or [V6ADDR]:PORT with an IP address");
    return *e;
}
std::string endpoint_or_empty(const Endpoint& e) { return e.family() == AF_UNSPEC ? "" : e.to_string(); }

constexpr uint32_t MAX_CONNS_LIMIT = 1u << 20;
constexpr uint64_t MAX_BUFFER_BYTES = 1ull << 30;  // 1 GiB: far above any sane BDP

// clang-format off
const ConfigKey KEYS[] = {
    {"queue", "0", "NFQUEUE number the queuer reads SYNs from",
     [](Config& c, const std::string& v) { c.queue = uint16_t(cv::parse_uint(v, 0, 65535)); },
     [](const Config& c) { return std::to_string(c.queue); }},
    {"port", "5000", "TCP port the connmgr listens on (IPv4 and IPv6)",
     [](Config& c, const std::string& v) { c.port = uint16_t(cv::parse_uint(v, 1, 65535)); },
     [](const Config& c) { return std::to_string(c.port); }},
    {"mode", "redirect", "how flows reach pepsal: redirect (nat REDIRECT) or tproxy (TPROXY)",
     [](Config& c, const std::string& v) {
         if (v == "redirect") c.mode = InterceptMode::redirect;
         else if (v == "tproxy") c.mode = InterceptMode::tproxy;
         else throw std::invalid_argument("expected redirect or tproxy");
     },
     [](const Config& c) { return std::string(c.mode == InterceptMode::redirect ? "redirect" : "tproxy"); }},
    {"bypass-mark", "0x50", "packet mark the queuer sets on SYNs it cannot record (table full); the firewall lets them pass unproxied",
     [](Config& c, const std::string& v) { c.bypass_mark = uint32_t(cv::parse_uint(v, 1, 0xffffffff)); },
     [](const Config& c) { return hex(c.bypass_mark); }},
    {"max-conns", "2048", "most flows proxied at once (table slots and workers)",
     [](Config& c, const std::string& v) { c.max_conns = uint32_t(cv::parse_uint(v, 1, MAX_CONNS_LIMIT)); },
     [](const Config& c) { return std::to_string(c.max_conns); }},
    {"shm-name", "pepsal", "name of the shared-memory segment holding the connection table (/dev/shm/NAME)",
     [](Config& c, const std::string& v) { c.shm_name = parse_shm_name(v); },
     [](const Config& c) { return c.shm_name; }},
    {"pid-file", "/run/pepsal.pid", "pid file written when running as a daemon",
     [](Config& c, const std::string& v) { c.pid_file = parse_path(v); },
     [](const Config& c) { return c.pid_file; }},
    {"log-level", "notice", "error, warning, notice, info or debug (-v raises it)",
     [](Config& c, const std::string& v) { c.log_level = parse_level(v); },
     [](const Config& c) { return level_name(c.log_level); }},
    {"pending-timeout", "30", "seconds a recorded SYN waits for its connection before it is collected",
     [](Config& c, const std::string& v) { c.pending_timeout_ms = cv::parse_seconds_ms(v, 1, 3600); },
     [](const Config& c) { return secs(c.pending_timeout_ms); }},
    {"idle-timeout", "3600", "seconds without a byte either way before a flow is reset; 0: never",
     [](Config& c, const std::string& v) { c.idle_timeout_ms = cv::parse_seconds_ms(v, 0, 7 * 86400); },
     [](const Config& c) { return secs(c.idle_timeout_ms); }},
    {"connect-timeout", "15", "seconds to wait for the destination to answer before resetting the client",
     [](Config& c, const std::string& v) { c.connect_timeout_ms = cv::parse_seconds_ms(v, 1, 600); },
     [](const Config& c) { return secs(c.connect_timeout_ms); }},
    {"client-congestion", "auto", "congestion control towards the client (auto: bbr if available; default: kernel's)",
     [](Config& c, const std::string& v) { c.client.congestion = cv::parse_congestion(v); },
     [](const Config& c) { return cc_name(c.client.congestion); }},
    {"client-sndbuf", "0", "send buffer towards the client, bytes (k/m/g); 0: autotuning",
     [](Config& c, const std::string& v) { c.client.sndbuf = int(cv::parse_size(v, 0, MAX_BUFFER_BYTES)); },
     [](const Config& c) { return std::to_string(c.client.sndbuf); }},
    {"client-rcvbuf", "0", "receive buffer from the client, bytes (k/m/g); 0: autotuning",
     [](Config& c, const std::string& v) { c.client.rcvbuf = int(cv::parse_size(v, 0, MAX_BUFFER_BYTES)); },
     [](const Config& c) { return std::to_string(c.client.rcvbuf); }},
    {"client-nodelay", "yes", "TCP_NODELAY on the client-facing socket",
     [](Config& c, const std::string& v) { c.client.nodelay = cv::parse_bool(v); },
     [](const Config& c) { return yes_no(c.client.nodelay); }},
    {"client-mss", "0", "TCP_MAXSEG on the client-facing socket; 0: kernel default",
     [](Config& c, const std::string& v) { c.client.mss = v == "0" ? 0 : int(cv::parse_uint(v, 88, 65535)); },
     [](const Config& c) { return std::to_string(c.client.mss); }},
    {"server-congestion", "auto", "congestion control towards the destination (auto: bbr if available; default: kernel's)",
     [](Config& c, const std::string& v) { c.server.congestion = cv::parse_congestion(v); },
     [](const Config& c) { return cc_name(c.server.congestion); }},
    {"server-sndbuf", "0", "send buffer towards the destination, bytes (k/m/g); 0: autotuning",
     [](Config& c, const std::string& v) { c.server.sndbuf = int(cv::parse_size(v, 0, MAX_BUFFER_BYTES)); },
     [](const Config& c) { return std::to_string(c.server.sndbuf); }},
    {"server-rcvbuf", "4m", "receive buffer from the destination, bytes (k/m/g); 0: autotuning. Bounded by default so a fast server cannot park tens of MB per flow inside pepsal",
     [](Config& c, const std::string& v) { c.server.rcvbuf = int(cv::parse_size(v, 0, MAX_BUFFER_BYTES)); },
     [](const Config& c) { return std::to_string(c.server.rcvbuf); }},
    {"server-nodelay", "yes", "TCP_NODELAY on the destination-facing socket",
     [](Config& c, const std::string& v) { c.server.nodelay = cv::parse_bool(v); },
     [](const Config& c) { return yes_no(c.server.nodelay); }},
    {"server-mss", "0", "TCP_MAXSEG on the destination-facing socket; 0: kernel default",
     [](Config& c, const std::string& v) { c.server.mss = v == "0" ? 0 : int(cv::parse_uint(v, 88, 65535)); },
     [](const Config& c) { return std::to_string(c.server.mss); }},
    {"fastopen", "0", "TCP Fast Open queue length on the listener (client side); 0: off",
     [](Config& c, const std::string& v) { c.fastopen_qlen = uint32_t(cv::parse_uint(v, 0, 65535)); },
     [](const Config& c) { return std::to_string(c.fastopen_qlen); }},
    {"server-fastopen", "no", "TCP Fast Open (TCP_FASTOPEN_CONNECT) towards destinations",
     [](Config& c, const std::string& v) { c.server_fastopen = cv::parse_bool(v); },
     [](const Config& c) { return yes_no(c.server_fastopen); }},
    {"pipe-size", "1m", "splice pipe size per direction of a flow, bytes (k/m/g)",
     [](Config& c, const std::string& v) { c.pipe_bytes = uint32_t(cv::parse_size(v, 4096, 256ull << 20)); },
     [](const Config& c) { return std::to_string(c.pipe_bytes); }},
    {"peer", "", "pair mode, near side: the peer pepsal's pair-listen address, ADDR:PORT (IP literal)",
     [](Config& c, const std::string& v) { c.peer = parse_endpoint_or_empty(v); },
     [](const Config& c) { return endpoint_or_empty(c.peer); }},
    {"pair-listen", "", "pair mode, far side: accept lanes from the peer on ADDR:PORT",
     [](Config& c, const std::string& v) { c.pair_listen = parse_endpoint_or_empty(v); },
     [](const Config& c) { return endpoint_or_empty(c.pair_listen); }},
    {"lanes", "32", "pair mode: parallel TCP lanes per flow (1 to 32); more lanes start faster (each brings its own initial window)",
     [](Config& c, const std::string& v) { c.lanes = uint32_t(cv::parse_uint(v, 1, 32)); },
     [](const Config& c) { return std::to_string(c.lanes); }},
    {"warm-lanes", "256", "pair mode: authenticated lanes kept open towards the peer, ready for new flows",
     [](Config& c, const std::string& v) { c.warm_lanes = uint32_t(cv::parse_uint(v, 1, 1024)); },
     [](const Config& c) { return std::to_string(c.warm_lanes); }},
    {"lane-reuse", "yes", "pair mode: lanes whose flow ended cleanly carry the next flows, congestion windows open (no: every flow gets fresh lanes)",
     [](Config& c, const std::string& v) { c.lane_reuse = cv::parse_bool(v); },
     [](const Config& c) { return yes_no(c.lane_reuse); }},
    {"psk-file", "", "pair mode: pre-shared key file (at least 32 bytes, not readable by group or others)",
     [](Config& c, const std::string& v) { c.psk_file = v.empty() ? v : parse_path(v); },
     [](const Config& c) { return c.psk_file; }},
    {"allow", "", "pair mode, far side: destination networks it will connect to (CIDR, comma-separated); empty: any",
     [](Config& c, const std::string& v) { c.allow = cv::parse_cidr_list(v); },
     [](const Config& c) { return c.allow; }},
    {"peer-fallback", "direct", "pair mode: what a new flow does when no lane to the peer is ready: direct or reset",
     [](Config& c, const std::string& v) {
         if (v == "direct") c.peer_fallback_direct = true;
         else if (v == "reset") c.peer_fallback_direct = false;
         else throw std::invalid_argument("expected direct or reset");
     },
     [](const Config& c) { return std::string(c.peer_fallback_direct ? "direct" : "reset"); }},
    {"reorder-buffer", "32m", "pair mode: reorder buffer per flow and direction, bytes (k/m/g); also the credit announced to the peer",
     [](Config& c, const std::string& v) { c.reorder_bytes = uint32_t(cv::parse_size(v, 256 << 10, 1ull << 30)); },
     [](const Config& c) { return std::to_string(c.reorder_bytes); }},
    {"lane-sndbuf", "0", "pair mode: send buffer of each lane, bytes (k/m/g); 0: autotuning",
     [](Config& c, const std::string& v) { c.lane_sndbuf = int(cv::parse_size(v, 0, MAX_BUFFER_BYTES)); },
     [](const Config& c) { return std::to_string(c.lane_sndbuf); }},
    {"lane-rcvbuf", "16m", "pair mode: receive buffer of each lane, bytes (k/m/g); 0: autotuning. Fixed by default: autotuning lagged a lane's startup (receive window the limit 15-40 % of its first seconds)",
     [](Config& c, const std::string& v) { c.lane_rcvbuf = int(cv::parse_size(v, 0, MAX_BUFFER_BYTES)); },
     [](const Config& c) { return std::to_string(c.lane_rcvbuf); }},
    {"interfaces", "", "firewall: interfaces whose incoming TCP is intercepted, comma-separated; empty: all",
     [](Config& c, const std::string& v) { c.interfaces = cv::parse_iface_list(v); },
     [](const Config& c) { return c.interfaces; }},
    {"sources", "", "firewall: client networks to intercept (CIDR, comma-separated); empty: any",
     [](Config& c, const std::string& v) { c.sources = cv::parse_cidr_list(v); },
     [](const Config& c) { return c.sources; }},
    {"exclude", "", "firewall: destination networks never intercepted (CIDR, comma-separated)",
     [](Config& c, const std::string& v) { c.exclude = cv::parse_cidr_list(v); },
     [](const Config& c) { return c.exclude; }},
    {"ports", "", "firewall: destination ports to intercept (N or LO:HI, comma-separated); empty: all",
     [](Config& c, const std::string& v) { c.ports = cv::parse_port_list(v); },
     [](const Config& c) { return c.ports; }},
    {"tproxy-mark", "0x51", "firewall (tproxy mode): mark that routes intercepted packets to the local table",
     [](Config& c, const std::string& v) { c.tproxy_mark = uint32_t(cv::parse_uint(v, 1, 0xffffffff)); },
     [](const Config& c) { return hex(c.tproxy_mark); }},
    {"tproxy-table", "100", "firewall (tproxy mode): routing table number for the local route",
     [](Config& c, const std::string& v) { c.tproxy_table = uint32_t(cv::parse_uint(v, 1, 252)); },
     [](const Config& c) { return std::to_string(c.tproxy_table); }},
};
// clang-format on

}  // namespace

std::span<const ConfigKey> config_keys() { return KEYS; }

}  // namespace pepsal
