#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# The satellite lab: five network namespaces in a line,
#
#     client ── pepa ══ sat ══ pepb ── server
#                      (linkemu)
#
# pepa is the satellite terminal side (where a PEP sits next to the client), pepb the gateway
# side; sat is a router whose forwarded packets go through the link emulator (linkemu) on
# NFQUEUE: "down" = server → client (queue 1), "up" = client → server (queue 2).
#
# Addressing (exported as TB_<NODE>_V4 / _V6, e.g. TB_SERVER_V4). In every namespace an
# interface is named after the node at its other end (in sat: "pepa" and "pepb").
#   client  pepa:   10.1.0.2/24 fd01::2/64  default via 10.1.0.1 / fd01::1
#   pepa    client: 10.1.0.1/24 fd01::1/64
#           sat:    10.2.0.1/24 fd02::1/64  default via 10.2.0.2 / fd02::2
#   sat     pepa:   10.2.0.2/24 fd02::2/64  10.1.0.0/24, fd01::/64 via pepa
#           pepb:   10.3.0.1/24 fd03::1/64  10.4.0.0/24, fd04::/64 via pepb
#   pepb    sat:    10.3.0.2/24 fd03::2/64  default via 10.3.0.1 / fd03::1
#           server: 10.4.0.1/24 fd04::1/64
#   server  pepb:   10.4.0.2/24 fd04::2/64  default via 10.4.0.1 / fd04::1
# Routers forward (IPv4 and IPv6), rp_filter off. End hosts use CUBIC (unmodified hosts);
# routers keep the kernel default. GRO/GSO/TSO are off on every veth so packets are MTU-sized.
# TCP buffers go up to 64 MB (a GEO path's BDP is several MB). net.core.rmem_max/wmem_max and
# net.ipv4.tcp_allowed_congestion_control are read-only inside a namespace, so they are raised
# (never lowered) in the host namespace; nothing else outside the lab's namespaces is touched.
#
# Namespaces are ${TB}client, ${TB}pepa, ${TB}sat, ${TB}pepb, ${TB}server. TB defaults to
# "tb$$-" when sourced (parallel test scripts do not collide) and to "tbl-" when run as a
# command (so that "up" and a later "down" agree). State (emulator PID, profile, its log and
# stats) lives in /run/pepsal-lab/${TB}*; binaries come from $BUILD (default: build/ in the
# repository root).
#
# As a library:
#   source test/lab/testbed.sh
#   trap testbed_down EXIT
#   testbed_up geo [linkemu options...]       # topology + emulator with that profile
#   tb_exec client ping -c 3 "$TB_SERVER_V4"
#   testbed_profile lossy                     # switch the emulator's profile in place
#   testbed_emu_stats; testbed_emu_check
# As a command:
#   test/lab/testbed.sh up geo | profile P [args] | exec NODE CMD... | stats | check | down
# Profiles and overrides (LOSS=0.03, DOWN_RATE=..., ...): see profiles.sh.

TB_LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB_REPO_ROOT=$(cd "$TB_LAB_DIR/../.." && pwd)
source "$TB_LAB_DIR/profiles.sh"

TB_NODES="client pepa sat pepb server"
TB_STATE_DIR=${TB_STATE_DIR:-/run/pepsal-lab}
TB_TCP_MEM_MAX=67108864  # bytes: 64 MB socket buffers
TB_EMU_DOWN_QUEUE=1
TB_EMU_UP_QUEUE=2

export TB_CLIENT_V4=10.1.0.2 TB_CLIENT_V6=fd01::2
export TB_PEPA_CLIENT_V4=10.1.0.1 TB_PEPA_CLIENT_V6=fd01::1
export TB_PEPA_SAT_V4=10.2.0.1 TB_PEPA_SAT_V6=fd02::1
export TB_SAT_PEPA_V4=10.2.0.2 TB_SAT_PEPA_V6=fd02::2
export TB_SAT_PEPB_V4=10.3.0.1 TB_SAT_PEPB_V6=fd03::1
export TB_PEPB_SAT_V4=10.3.0.2 TB_PEPB_SAT_V6=fd03::2
export TB_PEPB_SERVER_V4=10.4.0.1 TB_PEPB_SERVER_V6=fd04::1
export TB_SERVER_V4=10.4.0.2 TB_SERVER_V6=fd04::2

_tb_build_dir() {
    local b=${BUILD:-build}
    [[ $b == /* ]] || b=$TB_REPO_ROOT/$b
    echo "$b"
}

tb_ns() { echo "${TB}$1"; }

# Runs a command inside NODE's namespace (client, pepa, sat, pepb, server).
tb_exec() {
    local node=$1
    shift
    ip netns exec "${TB}$node" "$@"
}

_tb_state_file() { echo "$TB_STATE_DIR/${TB}env"; }

_tb_save_state() {
    mkdir -p "$TB_STATE_DIR"
    printf 'TB=%q\nTB_EMU_PID=%q\nTB_PROFILE=%q\n' "$TB" "${TB_EMU_PID:-}" "${TB_PROFILE:-}" \
        >"$(_tb_state_file)"
}

_tb_sysctl() {  # NODE key=value...
    local node=$1
    shift
    tb_exec "$node" sysctl -qw "$@" >/dev/null
}

# Host-wide knobs the namespaces read but may not write; only ever raised.
_tb_host_sysctls() {
    local k
    for k in net.core.rmem_max net.core.wmem_max; do
        (($(sysctl -n "$k") >= TB_TCP_MEM_MAX)) || sysctl -qw "$k=$TB_TCP_MEM_MAX"
    done
    local allowed
    allowed=$(sysctl -n net.ipv4.tcp_allowed_congestion_control)
    [[ " $allowed " == *" cubic "* ]] ||
        sysctl -qw net.ipv4.tcp_allowed_congestion_control="$allowed cubic"
}

_tb_node_sysctls() {  # NODE
    local node=$1
    # No duplicate address detection, link-local addresses included: while a router's
    # link-local address is tentative it cannot resolve neighbours, and the first IPv6 packets
    # would wait seconds.
    _tb_sysctl "$node" net.ipv4.tcp_rmem="4096 131072 $TB_TCP_MEM_MAX" \
        net.ipv4.tcp_wmem="4096 16384 $TB_TCP_MEM_MAX" \
        net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    case $node in
        client | server) _tb_sysctl "$node" net.ipv4.tcp_congestion_control=cubic ;;
        *) _tb_sysctl "$node" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
            net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 ;;
    esac
}

# Links NODE_A and NODE_B with a veth pair; each end is named after the node it leads to.
_tb_link() {  # NODE_A NODE_B ADDR_A4 ADDR_B4 ADDR_A6 ADDR_B6 (prefixes /24 and /64)
    local a=$1 b=$2
    ip -n "${TB}$a" link add "$b" type veth peer name "$a" netns "${TB}$b" &&
        _tb_if_up "$a" "$b" "$3/24" "$5/64" &&
        _tb_if_up "$b" "$a" "$4/24" "$6/64"
}

_tb_if_up() {  # NODE IFACE ADDR4 ADDR6
    local node=$1 dev=$2
    tb_exec "$node" ethtool -K "$dev" gro off gso off tso off >/dev/null || return 1
    if [[ $node != client && $node != server ]]; then
        _tb_sysctl "$node" "net.ipv4.conf.$dev.rp_filter=0" || return 1
    fi
    ip -n "${TB}$node" addr add "$3" dev "$dev" &&
        ip -n "${TB}$node" -6 addr add "$4" dev "$dev" nodad &&
        ip -n "${TB}$node" link set "$dev" up
}

_tb_routes() {
    _tb_route client default "$TB_PEPA_CLIENT_V4" default "$TB_PEPA_CLIENT_V6" &&
        _tb_route pepa default "$TB_SAT_PEPA_V4" default "$TB_SAT_PEPA_V6" &&
        _tb_route sat 10.1.0.0/24 "$TB_PEPA_SAT_V4" fd01::/64 "$TB_PEPA_SAT_V6" &&
        _tb_route sat 10.4.0.0/24 "$TB_PEPB_SAT_V4" fd04::/64 "$TB_PEPB_SAT_V6" &&
        _tb_route pepb default "$TB_SAT_PEPB_V4" default "$TB_SAT_PEPB_V6" &&
        _tb_route server default "$TB_PEPB_SERVER_V4" default "$TB_PEPB_SERVER_V6"
}

# One ping each way end to end, before any emulator: proves the routes, and resolves every
# neighbour so the first measured packets do not wait for it. A fresh IPv6 router answers its
# first neighbour solicitation only after about a second, hence the generous wait.
_tb_warm_up() {
    local dst
    for dst in "$TB_SERVER_V4" "$TB_SERVER_V6"; do
        tb_exec client ping -q -n -c 1 -W 5 "$dst" >/dev/null || return 1
    done
    for dst in "$TB_CLIENT_V4" "$TB_CLIENT_V6"; do
        tb_exec server ping -q -n -c 1 -W 5 "$dst" >/dev/null || return 1
    done
}

_tb_route() {  # NODE PREFIX4 VIA4 PREFIX6 VIA6
    ip -n "${TB}$1" route add "$2" via "$3" && ip -n "${TB}$1" -6 route add "$4" via "$5"
}

# Builds the five namespaces and starts the emulator with PROFILE (see profiles.sh); extra
# arguments are linkemu options overriding the profile. Returns non-zero, with a message, on
# any failure; the caller's `trap testbed_down EXIT` cleans up what was built.
testbed_up() {
    local profile=${1:?usage: testbed_up PROFILE [linkemu options]}
    shift
    tb_profile_args "$profile" "$@" || return 1
    if [[ $(id -u) != 0 ]]; then echo "testbed: needs root" >&2; return 1; fi
    local tool
    for tool in ip ethtool iptables ip6tables ping sysctl; do
        command -v "$tool" >/dev/null ||
            { echo "testbed: $tool is not installed (make deps)" >&2; return 1; }
    done
    if ip netns list | grep -q "^${TB}sat\b"; then
        echo "testbed: ${TB}* already exists (testbed_down first)" >&2
        return 1
    fi
    TB_EMU_PID='' TB_PROFILE=none
    _tb_save_state
    _tb_host_sysctls || return 1
    local node
    for node in $TB_NODES; do
        ip netns add "${TB}$node" || return 1
        ip -n "${TB}$node" link set lo up
        _tb_node_sysctls "$node" || return 1
    done
    if ! { _tb_link client pepa "$TB_CLIENT_V4" "$TB_PEPA_CLIENT_V4" "$TB_CLIENT_V6" "$TB_PEPA_CLIENT_V6" &&
        _tb_link pepa sat "$TB_PEPA_SAT_V4" "$TB_SAT_PEPA_V4" "$TB_PEPA_SAT_V6" "$TB_SAT_PEPA_V6" &&
        _tb_link sat pepb "$TB_SAT_PEPB_V4" "$TB_PEPB_SAT_V4" "$TB_SAT_PEPB_V6" "$TB_PEPB_SAT_V6" &&
        _tb_link pepb server "$TB_PEPB_SERVER_V4" "$TB_SERVER_V4" "$TB_PEPB_SERVER_V6" "$TB_SERVER_V6" &&
        _tb_routes && _tb_warm_up; }; then
        echo "testbed: building the topology failed" >&2
        return 1
    fi
    testbed_profile "$profile" "$@"
}

_tb_emu_alive() { [[ -n ${TB_EMU_PID:-} ]] && kill -0 "$TB_EMU_PID" 2>/dev/null; }

# Stops the emulator (its final counters go to its log) and takes sat's NFQUEUE rules away,
# leaving sat a plain router.
testbed_emu_stop() {
    local fw
    for fw in iptables ip6tables; do tb_exec sat "$fw" -F FORWARD 2>/dev/null; done
    if _tb_emu_alive; then
        kill -TERM "$TB_EMU_PID" 2>/dev/null
        local i
        for ((i = 0; i < 50; i++)); do _tb_emu_alive || break; sleep 0.1; done
        _tb_emu_alive && kill -KILL "$TB_EMU_PID" 2>/dev/null
        wait "$TB_EMU_PID" 2>/dev/null
    fi
    TB_EMU_PID=
    return 0
}

# (Re)starts the emulator in sat with PROFILE and overrides; the topology stays up.
testbed_profile() {
    local profile=${1:?usage: testbed_profile PROFILE [linkemu options]}
    shift
    tb_profile_args "$profile" "$@" || return 1
    testbed_emu_stop
    TB_PROFILE=$profile
    _tb_save_state
    ((${#TB_EMU_ARGS[@]})) || return 0
    local emu log stats
    emu=$(_tb_build_dir)/linkemu
    log=$TB_STATE_DIR/${TB}linkemu.log stats=$TB_STATE_DIR/${TB}linkemu.stats
    [[ -x $emu ]] || { echo "testbed: $emu not built (make build/linkemu)" >&2; return 1; }
    rm -f "$stats"
    # A simple command, not tb_exec: `ip netns exec` then execs linkemu, so $! is its PID.
    ip netns exec "${TB}sat" "$emu" --down-queue $TB_EMU_DOWN_QUEUE --up-queue $TB_EMU_UP_QUEUE \
        --stats-file "$stats" "${TB_EMU_ARGS[@]}" </dev/null >"$log" 2>&1 &
    TB_EMU_PID=$!
    _tb_save_state
    local i
    for ((i = 0; i < 100; i++)); do
        grep -q '^linkemu ready' "$log" 2>/dev/null && break
        _tb_emu_alive || break
        sleep 0.05
    done
    if ! grep -q '^linkemu ready' "$log" 2>/dev/null; then
        echo "testbed: linkemu did not start:" >&2
        cat "$log" >&2
        testbed_emu_stop
        return 1
    fi
    local fw
    for fw in iptables ip6tables; do
        tb_exec sat "$fw" -A FORWARD -i pepb -j NFQUEUE --queue-num $TB_EMU_DOWN_QUEUE &&
            tb_exec sat "$fw" -A FORWARD -i pepa -j NFQUEUE --queue-num $TB_EMU_UP_QUEUE || return 1
    done
}

# Asks the emulator for its counters (SIGUSR1) and prints them: one "linkemu dir=..." line
# per direction, warnings, and "linkemu status=ok|behind seq=N".
testbed_emu_stats() {
    local stats=$TB_STATE_DIR/${TB}linkemu.stats
    if ! _tb_emu_alive; then echo "testbed: no emulator running (profile ${TB_PROFILE:-?})" >&2; return 1; fi
    local before after i
    before=$(grep -o 'seq=[0-9]*' "$stats" 2>/dev/null)
    kill -USR1 "$TB_EMU_PID"
    for ((i = 0; i < 100; i++)); do
        after=$(grep -o 'seq=[0-9]*' "$stats" 2>/dev/null)
        [[ -n $after && $after != "$before" ]] && { cat "$stats"; return 0; }
        sleep 0.02
    done
    echo "testbed: linkemu did not answer SIGUSR1" >&2
    return 1
}

# Returns 1, printing why, if the emulator reported that it fell behind (its measurements
# since start are then not to be trusted). Returns 0 when no emulator runs (profile none).
testbed_emu_check() {
    [[ ${TB_PROFILE:-none} == none ]] && return 0
    local out
    out=$(testbed_emu_stats) || return 1
    grep -q 'status=ok' <<<"$out" && return 0
    grep 'warning' <<<"$out" >&2
    return 1
}

# Tears everything down: emulator, any process left in the lab's namespaces, the namespaces
# and the state files. Safe to call any number of times, with or without a testbed.
testbed_down() {
    # shellcheck source=/dev/null
    [[ -f $(_tb_state_file) && -z ${TB_EMU_PID:-} ]] && source "$(_tb_state_file)"
    testbed_emu_stop
    local node ns pids
    for node in $TB_NODES; do
        ns=${TB}$node
        ip netns list 2>/dev/null | grep -q "^$ns\b" || continue
        pids=$(ip netns pids "$ns" 2>/dev/null)
        # shellcheck disable=SC2086
        [[ -n $pids ]] && kill -KILL $pids 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    rm -f "$TB_STATE_DIR/${TB}env" "$TB_STATE_DIR/${TB}linkemu.log" \
        "$TB_STATE_DIR/${TB}linkemu.stats" "$TB_STATE_DIR/${TB}linkemu.stats.tmp"
    return 0
}

_tb_main() {
    TB=${TB:-tbl-}
    local cmd=${1:-}
    shift || true
    # shellcheck source=/dev/null
    [[ -f $(_tb_state_file) ]] && source "$(_tb_state_file)"
    case $cmd in
        up)
            testbed_up "$@" || { testbed_down; return 1; }
            echo "testbed ${TB} up, profile $TB_PROFILE${TB_EMU_PID:+, linkemu pid $TB_EMU_PID}:" \
                "client $TB_CLIENT_V4 / $TB_CLIENT_V6, server $TB_SERVER_V4 / $TB_SERVER_V6;" \
                "namespaces ${TB}{client,pepa,sat,pepb,server}; state in $(_tb_state_file)" ;;
        profile) testbed_profile "$@" ;;
        exec) tb_exec "$@" ;;
        stats) testbed_emu_stats ;;
        check) testbed_emu_check ;;
        down) testbed_down ;;
        *)
            echo "usage: $0 up PROFILE [linkemu options] | profile PROFILE [options] |" \
                "exec NODE CMD... | stats | check | down   (profiles: $TB_PROFILES)" >&2
            return 2 ;;
    esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    _tb_main "$@"
    exit
fi
TB=${TB:-tb$$-}
