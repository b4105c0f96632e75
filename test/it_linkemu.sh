#!/bin/bash
# Validates the satellite lab against its specification: the link emulator's delay, rate, loss
# and ordering, as seen by real traffic crossing the five-namespace testbed, and its honesty
# about falling behind. Needs root (network namespaces); takes about a minute and a half.
# usage: test/it_linkemu.sh   (BUILD=dir overrides build/)
set -u
cd "$(dirname "$0")/.." || exit 1
REPO=$(pwd)
. test/lib/check.sh
require_root

BUILD=${BUILD:-build}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "FAIL: no build directory" >&2; exit 1; }
export BUILD
BLAST=$BUILD/udpblast
WORK=$(mktemp -d)
TB=tb$$-
. test/lab/testbed.sh
trap 'testbed_down; TB=${TB}x- testbed_down; rm -rf "$WORK"' EXIT

# --- helpers --------------------------------------------------------------------------------

# within VALUE EXPECTED PERCENT: |VALUE − EXPECTED| ≤ PERCENT % of EXPECTED.
within() {
    awk -v v="$1" -v e="$2" -v p="$3" 'BEGIN { d = v - e; if (d < 0) d = -d; exit !(v != "" && d <= e * p / 100) }'
}

# binomial_ok OBSERVED N P: OBSERVED within 3 standard deviations of N·P, on a sample large
# enough (N ≥ 5000) for that to mean something.
binomial_ok() {
    awk -v o="$1" -v n="$2" -v p="$3" 'BEGIN { m = n * p; s = sqrt(n * p * (1 - p)); d = o - m; if (d < 0) d = -d
        printf "lost %d of %d (%.3f %%), expected %.0f ± %.0f\n", o, n, n ? 100 * o / n : 0, m, 3 * s
        exit !(n >= 5000 && d <= 3 * s) }'
}

# field "k1=v1 k2=v2" KEY: prints the value of KEY (0 when absent, so arithmetic stays valid
# and the comparison fails instead).
field() {
    local v
    v=$(sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"$1" | head -1)
    echo "${v:-0}"
}

# The emulator's counter line for DIR (down|up) from a testbed_emu_stats output.
emu_line() { grep "^linkemu dir=$2 " <<<"$1"; }

# Time in ms to serialize BYTES at RATE_MBIT.
ser_ms() { awk -v b="$1" -v r="$2" 'BEGIN { printf "%.4f", b * 8 / (r * 1000) }'; }

# ping_avg NODE DEST [ping options]: average RTT in ms of 20 pings 0.2 s apart.
ping_avg() {
    local node=$1 dest=$2
    shift 2
    tb_exec "$node" ping -q -n -c 20 -i 0.2 "$@" "$dest" |
        sed -n 's|^rtt min/avg/max/mdev = [0-9.]*/\([0-9.]*\)/.*|\1|p'
}

# recv_start NAME NODE ADDR:PORT: starts a receiver and waits until it listens.
recv_start() {
    local name=$1 node=$2 at=$3 i
    tb_exec "$node" "$BLAST" recv --listen "$at" --idle-ms 1500 >"$WORK/$name.out" 2>"$WORK/$name.err" &
    eval "RECV_PID_$name=$!"
    for ((i = 0; i < 100; i++)); do
        grep -q listening "$WORK/$name.err" 2>/dev/null && return 0
        sleep 0.02
    done
    echo "receiver $name did not start: $(cat "$WORK/$name.err")" >&2
    return 1
}

# recv_wait NAME: waits for the receiver to finish; sets RECV to its result line. Not to be
# called in a subshell, which could not wait for this shell's children.
recv_wait() {
    local pid_var=RECV_PID_$1
    wait "${!pid_var}"
    RECV=$(cat "$WORK/$1.out")
}

# send NAME NODE ADDR:PORT RATE SIZE SECONDS: runs a sender to completion, result in $WORK.
send() {
    tb_exec "$2" "$BLAST" send --to "$3" --rate "$4" --size "$5" --seconds "$6" >"$WORK/$1.out"
}

profile() {
    echo "-- profile $*"
    testbed_profile "$@" || { fail "emulator starts with profile $*"; return 1; }
}

# --- tests --------------------------------------------------------------------------------

test_geo() {
    echo "-- geo: 600 ms RTT, 50/10 Mbit/s"
    local rtt want
    rtt=$(ping_avg client "$TB_SERVER_V4")
    # An 84-byte echo is serialized once on each link: add both to the propagation RTT.
    want=$(awk -v a="$(ser_ms 84 50)" -v b="$(ser_ms 84 10)" 'BEGIN { print 600 + a + b }')
    check "geo ping RTT ${rtt:-?} ms within 3 % of $want ms" within "$rtt" "$want" 3
    rtt=$(tb_exec client ping -6 -q -n -c 5 -i 0.2 "$TB_SERVER_V6" | sed -n 's|^rtt [^=]*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
    check "geo IPv6 ping RTT ${rtt:-?} ms within 3 % of 600 ms" within "$rtt" 600 3

    # Both directions at once, each offered 20 % more than its link carries.
    recv_start down client "$TB_CLIENT_V4:9001" && recv_start up server "$TB_SERVER_V4:9002" || return
    send down_tx server "$TB_CLIENT_V4:9001" 60mbit 1400 5 &
    local tx=$!
    send up_tx client "$TB_SERVER_V4:9002" 12mbit 1400 5
    wait $tx
    local down up stats
    recv_wait down && down=$RECV
    recv_wait up && up=$RECV
    stats=$(testbed_emu_stats)
    echo "   $down"
    echo "   $up"
    echo "   $(emu_line "$stats" down)"
    local r
    r=$(field "$down" mid_rate_bps)
    check "geo downlink delivers $r bit/s, within 3 % of 50 Mbit/s" within "$r" 50000000 3
    r=$(field "$up" mid_rate_bps)
    check "geo uplink delivers $r bit/s, within 3 % of 10 Mbit/s" within "$r" 10000000 3
    r=$(field "$down" owd_min_ms)
    check "geo downlink one-way delay ${r} ms within 3 % of 300 ms" within "$r" 300 3
    check "geo overload is tail-dropped by the 1 BDP buffer" \
        test "$(field "$(emu_line "$stats" down)" dropped_queue)" -gt 0
    check "no reordering (down $(field "$down" reordered), up $(field "$up" reordered))" \
        test "$(field "$down" reordered)$(field "$up" reordered)" = 00
}

test_leo() {
    profile leo || return
    local rtt want
    rtt=$(ping_avg client "$TB_SERVER_V4")
    want=$(awk -v a="$(ser_ms 84 100)" -v b="$(ser_ms 84 20)" 'BEGIN { print 40 + a + b }')
    check "leo ping RTT ${rtt:-?} ms within 3 % of $want ms" within "$rtt" "$want" 3
}

# loss_check LABEL P SEND_LINE RECV_LINE EMU_LINE: the loss between sender and receiver is
# binomial(P), and all of it is the emulator's random loss: no tail drops, no socket drops.
# Counted from what the sender sent, not from the receiver's highest sequence number, which
# misses losses at the very end of the run.
loss_check() {
    local label=$1 p=$2 sent=$3 result=$4 emu=$5
    local n lost
    n=$(field "$sent" packets) lost=$(($(field "$sent" packets) - $(field "$result" packets)))
    local verdict
    verdict=$(binomial_ok "$lost" "$n" "$p")
    check "$label: $verdict" binomial_ok "$lost" "$n" "$p"
    check "$label: every loss is the emulator's (lost $lost, emulator $(field "$emu" lost_random), tail drops $(field "$emu" dropped_queue), socket drops $(field "$result" sock_drops), send errors $(field "$sent" errors))" \
        test "$lost" = "$(field "$emu" lost_random)" -a "$(field "$emu" dropped_queue)" = 0 \
        -a "$(field "$result" sock_drops)" = 0 -a "$(field "$sent" errors)" = 0
}

# Offers 40 Mbit/s of 428-byte datagrams (8 Mbit/s up), below the link rates, for 4 s: ~47000
# packets down, ~9000 up, so 3 sigma is ±14 % of the expected losses at 1 %.
test_uniform_loss() {
    # Unlimited buffers: a sender catching up after a scheduling stall must not cause tail
    # drops, which would mix with the random losses under test.
    local opts=(--down-delay-ms 10 --up-delay-ms 10 --down-buffer unlimited --up-buffer unlimited)
    profile lossy "${opts[@]}" --seed 7 || return
    recv_start l1 client "$TB_CLIENT_V4:9003" || return
    send l1_tx server "$TB_CLIENT_V4:9003" 40mbit 400 4
    local down stats
    recv_wait l1 && down=$RECV
    stats=$(testbed_emu_stats)
    loss_check "1 % uniform loss, down" 0.01 "$(cat "$WORK/l1_tx.out")" "$down" "$(emu_line "$stats" down)"

    LOSS=0.03 profile lossy "${opts[@]}" --seed 8 || return
    recv_start l3d client "$TB_CLIENT_V4:9004" && recv_start l3u server "$TB_SERVER_V4:9005" || return
    send l3d_tx server "$TB_CLIENT_V4:9004" 40mbit 400 4 &
    local tx=$!
    send l3u_tx client "$TB_SERVER_V4:9005" 8mbit 400 4
    wait $tx
    local up
    recv_wait l3d && down=$RECV
    recv_wait l3u && up=$RECV
    stats=$(testbed_emu_stats)
    loss_check "3 % uniform loss (LOSS=0.03), down" 0.03 "$(cat "$WORK/l3d_tx.out")" "$down" "$(emu_line "$stats" down)"
    loss_check "3 % uniform loss (LOSS=0.03), up" 0.03 "$(cat "$WORK/l3u_tx.out")" "$up" "$(emu_line "$stats" up)"
    check "no reordering under loss" test "$(field "$down" reordered)$(field "$up" reordered)" = 00
}

# One 5 s run at 250 Mbit/s offered into a 200 Mbit/s link; sets FAST_STATS and FAST_RECV.
run_200mbit() {
    recv_start fast client "$TB_CLIENT_V4:9006" || return
    send fast_tx server "$TB_CLIENT_V4:9006" 250mbit 1400 5
    recv_wait fast && FAST_RECV=$RECV
    FAST_STATS=$(testbed_emu_stats)
    echo "   $FAST_RECV"
    echo "   $(emu_line "$FAST_STATS" down)"
}

test_200mbit() {
    # A 100 ms buffer rides out the sender's scheduling hiccups, so the link never idles.
    local opts=(--down-rate 200mbit --up-rate 200mbit --down-delay-ms 5 --up-delay-ms 5
                --down-buffer 100ms)
    profile leo "${opts[@]}" || return
    FAST_STATS='' FAST_RECV=''
    run_200mbit
    if grep -q 'status=behind' <<<"$FAST_STATS"; then
        # It said so, as it must; one such run can be another process's doing on a shared
        # host, so the capacity claim gets a second, fresh run.
        echo "   (first run flagged late releases: $(grep warning <<<"$FAST_STATS" | head -1); retrying)"
        profile leo "${opts[@]}" || return
        run_200mbit
    fi
    local line r
    line=$(emu_line "$FAST_STATS" down)
    r=$(field "$FAST_RECV" mid_rate_bps)
    check "200 Mbit/s link delivers $r bit/s, within 3 % of 200 Mbit/s" within "$r" 200000000 3
    # Keeping up is a capacity figure of this machine, not a property of the code: a shared
    # CI host made 0.2 % of the packets 4 ms late in both runs. What must hold is that the
    # emulator says so exactly when it happens, so a benchmark can discard such runs.
    local late
    late=$(field "$line" late)
    if grep -q 'status=ok' <<<"$FAST_STATS"; then
        pass "emulator keeps up at 200 Mbit/s: $late of $(field "$line" packets) packets late, $(field "$line" enobufs) overruns"
    else
        echo "  note: the emulator fell behind at 200 Mbit/s twice on this machine (busy host): $late of $(field "$line" packets) packets late, max $(field "$line" max_late_ms) ms"
        check "emulator behind at 200 Mbit/s reports late packets and a warning" \
            bash -c '[ "$1" -gt 0 ] && grep -q "linkemu warning dir=down: emulator fell behind" <<<"$2"' _ "$late" "$FAST_STATS"
    fi
    check "no reordering at 200 Mbit/s" test "$(field "$FAST_RECV" reordered)" = 0
}

test_2gbit() {
    profile leo --down-rate 2gbit --up-rate 2gbit --down-delay-ms 1 --up-delay-ms 1 \
        --down-buffer 20ms || return
    recv_start g1 client "$TB_CLIENT_V4:9007" && recv_start g2 client "$TB_CLIENT_V4:9008" || return
    # Two unpaced senders of small datagrams: as many packets per second as the host can make.
    send g1_tx server "$TB_CLIENT_V4:9007" unlimited 200 3 &
    local tx=$!
    send g2_tx server "$TB_CLIENT_V4:9008" unlimited 200 3
    wait $tx
    local a b stats line
    recv_wait g1 && a=$RECV
    recv_wait g2 && b=$RECV
    stats=$(testbed_emu_stats)
    line=$(emu_line "$stats" down)
    echo "   $line"
    if grep -q 'status=behind' <<<"$stats"; then
        pass "at 2 Gbit/s the emulator says it fell behind: $(grep warning <<<"$stats" | head -1)"
        return
    fi
    # It kept up: then its counters must add up, and agree with what the receivers saw.
    local received=$(($(field "$a" packets) + $(field "$b" packets) + $(field "$a" sock_drops) + $(field "$b" sock_drops)))
    local offered=$(($(field "$(cat "$WORK/g1_tx.out")" packets) + $(field "$(cat "$WORK/g2_tx.out")" packets)))
    local accounted=$(($(field "$line" delivered) + $(field "$line" dropped_queue) + $(field "$line" lost_random)))
    local rate=$(($(field "$line" delivered_bytes) * 8 / 3))
    echo "   senders $offered packets, emulator $(field "$line" packets) in / $(field "$line" delivered) out, receivers $received"
    check "at 2 Gbit/s the emulator kept up (~$((rate / 1000000)) Mbit/s offered) and its counters are exact" \
        test "$(field "$line" delivered)" = "$received" -a "$accounted" = "$(field "$line" packets)" \
        -a "$(field "$line" packets)" -gt 0
}

test_reports_falling_behind() {
    # Freezing the emulator for 300 ms mid-stream makes releases late; it must say so.
    profile leo --down-delay-ms 1 --up-delay-ms 1 || return
    recv_start frozen client "$TB_CLIENT_V4:9009" || return
    send frozen_tx server "$TB_CLIENT_V4:9009" 20mbit 1000 2 &
    local tx=$!
    sleep 0.7
    kill -STOP "$TB_EMU_PID"
    sleep 0.3
    kill -CONT "$TB_EMU_PID"
    wait $tx
    recv_wait frozen
    local why
    why=$(testbed_emu_check 2>&1)
    check "a frozen emulator reports that it fell behind" test $? = 1 -a -n "$why"
    echo "   $why"
}

# Gilbert-Elliott on the downlink only: 3.85 % loss in bursts of 4 packets on average.
test_ge_loss() {
    profile geo --down-delay-ms 10 --up-delay-ms 10 --down-buffer unlimited \
        --loss-model ge --ge-dirs down --ge-p 0.01 --ge-r 0.25 --ge-bad-loss 1 --ge-good-loss 0 || return
    recv_start ge client "$TB_CLIENT_V4:9010" || return
    send ge_tx server "$TB_CLIENT_V4:9010" 40mbit 400 4
    local down stats line
    recv_wait ge && down=$RECV
    stats=$(testbed_emu_stats)
    line=$(emu_line "$stats" down)
    local lost bursts n
    lost=$(field "$down" lost) bursts=$(field "$down" loss_bursts) n=$(($(field "$down" highest_seq) + 1))
    local rate burst
    rate=$(awk -v l="$lost" -v n="$n" 'BEGIN { printf "%.4f", n ? l / n : 0 }')
    burst=$(awk -v l="$lost" -v b="$bursts" 'BEGIN { printf "%.2f", b ? l / b : 0 }')
    # Bursts make the count far more variable than a binomial: ±25 % on ~180 bursts.
    check "GE loss rate $rate within 25 % of 0.0385" within "$rate" 0.0385 25
    check "GE losses come in bursts: mean $burst packets (uniform would give ~1.04)" \
        awk -v b="$burst" 'BEGIN { exit !(b >= 2.5 && b <= 6) }'
    check "GE: every loss is the emulator's (receiver $lost, emulator $(field "$line" lost_random))" \
        test "$lost" = "$(field "$line" lost_random)"
}

test_none() {
    profile none || return
    local rules rtt
    rules=$(tb_exec sat iptables -S FORWARD | grep -c NFQUEUE)
    rtt=$(tb_exec client ping -q -n -c 3 -i 0.2 "$TB_SERVER_V4" | sed -n 's|^rtt [^=]*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
    check "profile none: sat is a plain router (NFQUEUE rules: $rules, RTT ${rtt:-?} ms)" \
        awk -v n="$rules" -v r="$rtt" 'BEGIN { exit !(n == 0 && r != "" && r < 20) }'
    check "profile none: testbed_emu_check has nothing to report" testbed_emu_check
}

# The script as a command, on a testbed of its own; "down" twice must be harmless.
cli_roundtrip() {
    local lab=$REPO/test/lab/testbed.sh
    TB=${TB}x- "$lab" up leo || return 1
    TB=${TB}x- "$lab" exec client ping -q -c 2 -i 0.2 "$TB_SERVER_V4" >/dev/null || return 1
    TB=${TB}x- "$lab" stats | grep -q 'status=ok' || return 1
    TB=${TB}x- "$lab" down && TB=${TB}x- "$lab" down || return 1
    ! ip netns list | grep -q "^${TB}x-" && [[ ! -e $TB_STATE_DIR/${TB}x-env ]]
}

test_tcp_lossy() {
    profile lossy || return
    tb_exec server iperf3 -s -1 -p 5201 >"$WORK/iperf-server.log" 2>&1 &
    local i
    for ((i = 0; i < 50; i++)); do
        tb_exec server ss -Hltn 'sport = :5201' | grep -q . && break
        sleep 0.05
    done
    # The end hosts' CUBIC needs minutes for 10 MB at 1 % loss and 600 ms; BBR (asked for on
    # this connection only) finishes in seconds, and the check is about the emulated path.
    local start=$SECONDS
    check "10 MB TCP download across lossy completes" \
        timeout 90 ip netns exec "${TB}client" iperf3 -c "$TB_SERVER_V4" -p 5201 -R -n 10M -C bbr
    echo "   (took $((SECONDS - start)) s)"
}

# --- main ---------------------------------------------------------------------------------

for tool in linkemu udpblast; do
    [[ -x $BUILD/$tool ]] || { fail "$BUILD/$tool is built (make $BUILD/$tool)"; finish; exit 1; }
done
for tool in ping iperf3 ethtool iptables; do
    command -v "$tool" >/dev/null || { fail "$tool is installed (make deps)"; finish; exit 1; }
done

echo "-- testbed up (geo)"
if check "testbed comes up with the geo profile" testbed_up geo; then
    test_geo
    test_leo
    test_uniform_loss
    test_200mbit
    test_2gbit
    test_reports_falling_behind
    test_ge_loss
    test_none
    check "testbed.sh works as a command: up, exec, stats, down, down" cli_roundtrip
    test_tcp_lossy
fi
finish
