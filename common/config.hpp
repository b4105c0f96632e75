// pepsal's configuration: one immutable struct, built once from the command line and the config
// file and passed by const& to every process.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "endpoint.hpp"
#include "log.hpp"

namespace pepsal {

enum class InterceptMode { redirect, tproxy };

// Socket options for one side of a split flow.
struct SideOptions {
    std::string congestion;  // TCP_CONGESTION; empty: kernel default
    int sndbuf = 0;          // SO_SNDBUF bytes; 0: kernel autotuning
    int rcvbuf = 0;          // SO_RCVBUF bytes; 0: kernel autotuning
    bool nodelay = true;     // TCP_NODELAY
    int mss = 0;             // TCP_MAXSEG; 0: kernel default
};

struct Config {
    // Command-line only.
    std::string config_file = "/etc/pepsal.conf";
    bool config_file_given = false;
    bool daemon = false;
    bool check_config = false;
    bool show_status = false;
    log::Level log_level = log::Level::notice;

    // Interception.
    uint16_t queue = 0;
    uint16_t port = 5000;
    InterceptMode mode = InterceptMode::redirect;
    uint32_t bypass_mark = 0x50;
    uint32_t max_conns = 2048;
    std::string shm_name = "pepsal";
    std::string pid_file = "/run/pepsal.pid";

    // Timers, in milliseconds internally; the keys are in seconds.
    uint32_t pending_timeout_ms = 30'000;
    uint32_t idle_timeout_ms = 3'600'000;  // 0: never
    uint32_t connect_timeout_ms = 15'000;

    // Data path.
    SideOptions client;  // the accepted, client-facing socket (the long link at a gateway)
    SideOptions server;  // the destination-facing socket
    uint32_t fastopen_qlen = 0;   // TCP_FASTOPEN on the listener; 0: off
    bool server_fastopen = false;  // TCP_FASTOPEN_CONNECT towards destinations
    uint32_t pipe_bytes = 1 << 20;

    // Pair mode (see README "Pair mode"). Unset endpoints have family AF_UNSPEC.
    Endpoint peer;                 // near side: connect lanes to this peer instance
    Endpoint pair_listen;          // far side: accept lanes from the peer here
    uint32_t lanes = 32;           // lanes per flow
    uint32_t warm_lanes = 256;     // authenticated lanes kept ready towards the peer
    bool lane_reuse = true;        // released lanes carry the next flows
    std::string psk_file;          // pre-shared key; required in pair mode
    std::string allow;             // destination CIDRs the far side connects to; empty: any
    bool peer_fallback_direct = true;  // peer unreachable: direct (true) or reset the client
    uint32_t reorder_bytes = 32 << 20;  // per flow and direction
    // Lane socket buffers; 0: autotuning. Not the server-side ones: the lanes' receiver is the
    // peer engine, whose credit already bounds what a flow parks and which reads every lane at
    // once, so a large receive buffer costs memory only while a lane's TCP holds a hole. Measured
    // on a 50 Mbit/s, 600 ms, 1 % loss link: a fixed 4 MiB kept each lane rwnd-limited for
    // 15-21 % of a stream; autotuning lagged the lanes' startup (rwnd-limited 15-40 % of the
    // first seconds: a lane waiting for a retransmission copies nothing to us, and autotuning
    // sizes the next round trip's window from what was copied); 16 MiB never limited a lane.
    int lane_sndbuf = 0;
    int lane_rcvbuf = 16 << 20;

    bool pair_near() const { return peer.family() != AF_UNSPEC; }
    bool pair_far() const { return pair_listen.family() != AF_UNSPEC; }

    // Firewall (read by etc/pepsal-firewall; validated here so --check-config covers them).
    std::string interfaces;   // comma-separated; empty: all
    std::string sources;      // comma-separated CIDRs to intercept; empty: any
    std::string exclude;      // comma-separated destination CIDRs never intercepted
    std::string ports;        // comma-separated destination ports; empty: all
    uint32_t tproxy_mark = 0x51;
    uint32_t tproxy_table = 100;
};

// A configuration error: the message names the key, the value and where it came from.
struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// What the command line asked for besides running.
enum class ParseOutcome { run, exit_ok };

// Parses argv and the config file (the file's values are overridden by the command line).
// --help and --version print to stdout and return exit_ok. Throws ConfigError.
ParseOutcome parse_config(int argc, const char* const* argv, Config& out);

// The configuration as key=value lines, as --check-config prints it.
std::string describe(const Config& c);

const char* PEPSAL_VERSION_STRING();

}  // namespace pepsal
