#!/bin/bash
# Integration: pair mode. pepsal in pepA (near the client, peer= pepB) and in pepB (near the
# server, pair-listen=), each flow carried between them over authenticated lanes across the
# emulated satellite link in sat. Real kernel, real netfilter, real processes.
set -u
. "$(dirname "$0")/lib/it_setup.sh"

PEP_DIR=$(mktemp -d /tmp/pepsal-it-pair.XXXXXX)
PAIR_PORT=5001
PEER=$TB_PEPB_SAT_V4:$PAIR_PORT

cleanup() {
    pep_stop pepa >/dev/null 2>&1
    pep_stop pepb >/dev/null 2>&1
    it_stop_background
    testbed_down
    rm -rf "$PEP_DIR"
}
trap cleanup EXIT

client() { tb_exec client "$FT" "$@"; }

make_key() {  # make_key FILE: 32 random bytes as hex, mode 0600
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1"
    chmod 600 "$1"
}

start_servers() { it_start_servers "$TB_SERVER_V4:5201" "$TB_SERVER_V4:5202" "[$TB_SERVER_V6]:5201"; }


start_far() { pep_start "$(tb_ns pepb)" pepb "pair-listen=0.0.0.0:$PAIR_PORT" "psk-file=$PEP_DIR/key" "$@"; }
start_near() { pep_start "$(tb_ns pepa)" pepa "peer=$PEER" "psk-file=${NEAR_KEY:-$PEP_DIR/key}" "$@"; }

lanes_ready() {  # until pepA's log says its lanes authenticated (after the latest start)
    local i
    for i in $(seq 1 100); do
        [ "$(grep -c 'lanes to peer .* authenticated' "$PEP_DIR/pepa.log")" -ge "${1:-1}" ] && return 0
        sleep 0.1
    done
    return 1
}

# The flow went through both instances: the server saw pepB, and pepB's log has the flow.
paired() {
    local peer; peer=$(last_peer_addr "$PEP_DIR/srv4-5201.log")
    [ "$peer" = "$TB_PEPB_SERVER_V4" ] || { echo "server saw $peer, expected pepB $TB_PEPB_SERVER_V4"; return 1; }
    grep -q "via peer $TB_PEPA_SAT_V4" "$PEP_DIR/pepb.log" || { echo "pepB never carried a flow from pepA"; return 1; }
}

transfers() {  # transfers LABEL SIZE
    check "$1: $2 upload, sha256 checked" client upload --to "$TB_SERVER_V4:5201" --bytes "$2"
    check "$1: $2 download, sha256 checked" client download --to "$TB_SERVER_V4:5201" --bytes "$2"
    check "$1: carried by the pair" paired
}

far_killed_mid_run() {
    tb_spawn client "$FT" expect-reset --to "$TB_SERVER_V4:5202" --hold --timeout-ms 20000 >"$PEP_DIR/victim.out" 2>&1
    local victim=$! i pids
    for i in $(seq 1 50); do
        grep -q "5202 via peer" "$PEP_DIR/pepb.log" 2>/dev/null && pep_status pepb | grep -q ':5202 pid' && break
        sleep 0.1
    done
    # The whole far instance at once: supervisor, connmgr, queuer, workers.
    pids="$(pep_pid pepb) $(pgrep -P "$(pep_pid pepb)") $(for c in $(pgrep -P "$(pep_pid pepb)"); do pgrep -P "$c"; done)"
    kill -KILL $pids
    wait "$(pep_pid pepb)" 2>/dev/null; PEP_PID_pepb=""
    wait "$victim" || { echo "the affected flow was not reset:"; cat "$PEP_DIR/victim.out"; return 1; }
    tb_exec pepb env PEPSAL="$BUILD/pepsal" "$REPO/etc/pepsal-firewall" -f "$PEP_DIR/pepb.conf" down
    local before; before=$(grep -c 'lanes to peer .* authenticated' "$PEP_DIR/pepa.log")
    start_far || return 1
    lanes_ready $((before + 1)) || { echo "pepA did not reconnect its lanes"; return 1; }
    client upload --to "$TB_SERVER_V4:5201" --bytes 2M || return 1
    paired
}

wrong_key_refused() {
    pep_stop pepa >/dev/null
    make_key "$PEP_DIR/otherkey"
    NEAR_KEY=$PEP_DIR/otherkey start_near peer-fallback=reset warm-lanes=32 || return 1
    sleep 2
    grep -q "lane from $TB_PEPA_SAT_V4:[0-9]* closed: .*keys differ" "$PEP_DIR/pepb.log" ||
        { echo "pepB did not log the refused lane"; grep "lane from" "$PEP_DIR/pepb.log" | tail -8; return 1; }
    client expect-reset --to "$TB_SERVER_V4:5201" --request upload --bytes 1000 --send 1000 --timeout-ms 5000 ||
        { echo "peer-fallback=reset should refuse the flow"; return 1; }
}

not_allowed_refused() {
    local before; before=$(grep -c 'lanes to peer .* authenticated' "$PEP_DIR/pepa.log")
    pep_stop pepb >/dev/null
    start_far allow=10.99.0.0/16,fd99::/16 || return 1
    lanes_ready $((before + 1)) || { echo "pepA did not reconnect its lanes"; return 1; }
    client expect-reset --to "$TB_SERVER_V4:5201" --request upload --bytes 1000 --send 1000 --timeout-ms 5000 || return 1
    grep -q "refused: destination not in allow=" "$PEP_DIR/pepb.log" || { echo "not logged"; return 1; }
    before=$(grep -c 'lanes to peer .* authenticated' "$PEP_DIR/pepa.log")
    pep_stop pepb >/dev/null
    start_far && lanes_ready $((before + 1))
}

# Counter NAME from `pepsal --status` of instance NODE.
status_count() { pep_status "$1" | sed -n "s/.* $2 \([0-9]*\).*/\1/p" | head -1; }

# Lane reuse: sequential flows run on the lanes the previous ones handed back (DONE both
# ways), on both instances, and pepA opens no new lanes for them.
lanes_reused() {
    local opened0 ret0 far0 i
    opened0=$(status_count pepa lanes_opened) ret0=$(status_count pepa lanes_returned)
    far0=$(status_count pepb lanes_returned)
    for i in 1 2 3 4 5; do
        client upload --to "$TB_SERVER_V4:5201" --bytes 1M >/dev/null || return 1
        client download --to "$TB_SERVER_V4:5201" --bytes 1M >/dev/null || return 1
    done
    sleep 1
    local opened ret far
    opened=$(status_count pepa lanes_opened) ret=$(status_count pepa lanes_returned)
    far=$(status_count pepb lanes_returned)
    echo "pepA: lanes opened $opened0 -> $opened, returned $ret0 -> $ret; pepB: returned $far0 -> $far"
    [ $((ret - ret0)) -ge 160 ] && [ $((far - far0)) -ge 160 ] && [ "$opened" = "$opened0" ]
}

# Field NAME of the emulator's counter line for DIR (down|up), since it last started.
emu_field() { testbed_emu_stats | grep "dir=$1 " | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# pepB's flow-end lines for flows from pepA (the ones that report the flight budget).
far_flow_ends() { grep "via peer $TB_PEPA_SAT_V4: closed" "$PEP_DIR/pepb.log" | grep 'MB again'; }

# Waits up to 10 s for pepB's flow-end line number BEFORE+1 and prints it: pepB logs a flow's
# end after DONE went both ways, a round trip or more after the client saw the last byte, and
# later still on a loaded machine; reading the last line too early reads the flow before.
next_far_flow_end() {
    local before=$1 i
    for i in $(seq 100); do
        if [ "$(far_flow_ends | wc -l)" -gt "$before" ]; then
            far_flow_ends | sed -n "$((before + 1))p"
            return 0
        fi
        sleep 0.1
    done
    echo "pepB logged no flow end within 10 s" >&2
    return 1
}

# The flight budget at work, across the lossy link: pepB's flow end reports that the budget
# took over after startup and held bytes back, with a path estimate near the emulator's
# 50 Mbit/s and 600 ms; and the bottleneck's queue dropped few packets (16 BBR lanes left to
# themselves kept it overfull: 12.8 % of packets dropped there over a 60 s stream).
flight_budget_measures_the_path() {
    local line rate rtt startup waited packets drops before ends
    LOSS=0.01 testbed_profile lossy >/dev/null || return 1
    # Fresh lanes, opened over this path: the lanes kept from the flows before were opened
    # while the link had no delay, and the kernel keeps their min RTT for 5 minutes.
    before=$(grep -c 'lanes to peer .* authenticated' "$PEP_DIR/pepa.log")
    pep_stop pepa >/dev/null && pep_stop pepb >/dev/null && start_far && start_near || return 1
    lanes_ready $((before + 1)) || { echo "pepA did not reconnect its lanes"; return 1; }
    ends=$(far_flow_ends | wc -l)
    client download --to "$TB_SERVER_V4:5201" --bytes 60M || return 1
    line=$(next_far_flow_end "$ends") || return 1
    echo "pepB: $line"
    waited=$(sed -n 's/.* \([0-9.]*\) s for the flight budget.*/\1/p' <<<"$line")
    rate=$(sed -n 's/.*path \([0-9.]*\) Mbit\/s x.*/\1/p' <<<"$line")
    rtt=$(sed -n 's/.*Mbit\/s x \([0-9]*\) ms.*/\1/p' <<<"$line")
    startup=$(sed -n 's/.*startup ended at \([0-9.]*\) s.*/\1/p' <<<"$line")
    packets=$(emu_field down packets) drops=$(emu_field down dropped_queue)
    echo "emulator: $drops of $packets packets dropped at the queue"
    awk -v w="$waited" -v r="$rate" -v t="$rtt" -v s="$startup" -v p="$packets" -v d="$drops" 'BEGIN {
        ok = w > 0 && s > 0 && r >= 40 && r <= 55 && t >= 590 && t <= 660 && p > 30000 && d < 0.03 * p
        exit !ok }'
}

# Right after flight_budget_measures_the_path: the next flow runs on the lanes that flow
# handed back, open congestion windows and all, and starts its budget from their estimate
# (no startup), so those windows do not empty into the bottleneck at once.
handed_back_lanes_start_budgeted() {
    local line packets0 drops0 packets drops ends
    # The last lanes come back a round trip after the client's close (its FIN, then the far
    # side's DONE); a flow that starts sooner takes fresh lanes.
    sleep 2
    packets0=$(emu_field down packets) drops0=$(emu_field down dropped_queue)
    ends=$(far_flow_ends | wc -l)
    client download --to "$TB_SERVER_V4:5201" --bytes 60M || return 1
    line=$(next_far_flow_end "$ends") || return 1
    echo "pepB: $line"
    packets=$(($(emu_field down packets) - packets0)) drops=$(($(emu_field down dropped_queue) - drops0))
    echo "emulator: $drops of $packets packets dropped at the queue"
    grep -q 'no startup (seeded)' <<<"$line" || { echo "the flow did not start from the lanes' estimate"; return 1; }
    [ "$packets" -gt 30000 ] && [ $((drops * 100)) -lt $((packets * 3)) ]
}

garbage_on_pair_port() {
    tb_spawn client "$FT" download --to "$TB_SERVER_V4:5201" --bytes 30M >"$PEP_DIR/bystander.out" 2>&1
    local bystander=$!
    tb_exec pepa bash -c "printf 'GET / HTTP/1.0\r\n\r\n%.0s' {1..10} >/dev/tcp/$TB_PEPB_SAT_V4/$PAIR_PORT" || true
    tb_exec pepa bash -c "printf 'PEPL' >/dev/tcp/$TB_PEPB_SAT_V4/$PAIR_PORT" || true
    wait "$bystander" || { echo "a flow was harmed:"; cat "$PEP_DIR/bystander.out"; return 1; }
    sleep 0.5
    grep -q "lane from $TB_PEPA_SAT_V4:[0-9]* closed: .*bad magic" "$PEP_DIR/pepb.log" || { echo "garbage lane not refused"; return 1; }
    client upload --to "$TB_SERVER_V4:5201" --bytes 1M && paired
}

make_key "$PEP_DIR/key"
testbed_up none >/dev/null
start_servers
start_far || fail "far pepsal starts"
start_near || fail "near pepsal starts"
check "near side authenticates its warm lanes" lanes_ready 1
transfers "no loss" 20M
check "IPv6 flow over the pair: 5M upload" client upload --to "[$TB_SERVER_V6]:5201" --bytes 5M
check "half-close end to end" client halfclose --to "$TB_SERVER_V4:5201" --bytes 1M
check "10 sequential flows run on lanes handed back by the ones before" lanes_reused
check "server reset reaches the client as a reset" client expect-reset --to "$TB_SERVER_V4:5201" --server-reset-after 1000 --timeout-ms 5000
check "client reset reaches the server as a reset" client reset-server-check --to "$TB_SERVER_V4:5201"
check "destination refuses: the client sees a reset" client expect-reset --to "$TB_SERVER_V4:5299" --timeout-ms 3000
check "100 concurrent flows" client parallel --to "$TB_SERVER_V4:5201" --flows 100 --bytes 256K --mode both
check "destination outside allow=: refused with a reset" not_allowed_refused
check "far instance killed mid-run: affected flow reset, new flows work once it is back" far_killed_mid_run

for loss in 0.01 0.05; do
    LOSS=$loss testbed_profile lossy >/dev/null || fail "emulator with $loss loss"
    transfers "geo, $loss loss" 4M
    # Correctness does not depend on exact link timing; a loaded machine only shifts it.
    testbed_emu_check >/dev/null || echo "  note: the emulator fell behind at $loss loss (machine busy)"
done
check "flight budget: 60M download at 1 % loss, path measured, bottleneck queue kept" flight_budget_measures_the_path
check "flight budget: the next flow starts from the estimate of the lanes it reuses" handed_back_lanes_start_budgeted
testbed_profile none >/dev/null
# Last: failed handshakes count against pepA's address (rate limit), so nothing may follow
# that needs pepA's lanes within a minute.
check "garbage and truncated handshakes on the pair port: refused, other flows unharmed" garbage_on_pair_port
check "wrong key: lanes refused and logged; peer-fallback=reset refuses flows" wrong_key_refused
finish
