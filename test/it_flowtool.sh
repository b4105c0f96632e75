#!/bin/bash
# Self-test of flowtool, the traffic tool every integration test relies on: two network
# namespaces joined by a veth pair (IPv4 and IPv6), `flowtool serve` in one, every client mode
# from the other. Also proves the checks can fail: a server started with --corrupt must make
# every content check fail, a reset must not pass for an EOF, and nothing may hang.
# usage: test/it_flowtool.sh [BUILD_DIR]     (or FLOWTOOL=/path/to/flowtool)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-${1:-$REPO/build}}
FT=${FLOWTOOL:-$BUILD/flowtool}
# shellcheck source=test/lib/check.sh
. "$REPO/test/lib/check.sh"
require_root

NS_A=pf-a-$$
NS_B=pf-b-$$
A4=10.99.0.1 B4=10.99.0.2 A6=fd99::1 B6=fd99::2
PORT=5001          # the normal server
PORT_CORRUPT=5002  # serve --corrupt
CLOSED_PORT=5099   # nothing listens here
TMP=$(mktemp -d /tmp/pf-flowtool.XXXXXX)
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    ip netns del "$NS_A" 2>/dev/null || true
    ip netns del "$NS_B" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

in_a() { ip netns exec "$NS_A" "$@"; }
in_b() { ip netns exec "$NS_B" "$@"; }
# Every client run is capped by timeout(1) too, so even a flowtool bug cannot hang the suite.
client() { in_a timeout 120 "$FT" "$@"; }
# run: record a check without letting `set -e` end the script on a failed one.
run() { check "$@" || true; }

setup_net() {
    ip netns add "$NS_A"
    ip netns add "$NS_B"
    ip -n "$NS_A" link add veth0 type veth peer name veth0 netns "$NS_B"
    ip -n "$NS_A" addr add "$A4/24" dev veth0
    ip -n "$NS_B" addr add "$B4/24" dev veth0
    ip -n "$NS_A" addr add "$A6/64" dev veth0 nodad
    ip -n "$NS_B" addr add "$B6/64" dev veth0 nodad
    local ns
    for ns in "$NS_A" "$NS_B"; do
        ip -n "$ns" link set lo up
        ip -n "$ns" link set veth0 up
    done
}

wait_for_file() {  # wait_for_file PATH: up to 5 s

    for _ in $(seq 1 50); do
        [ -s "$1" ] && return 0
        sleep 0.1
    done
    echo "$1 did not appear" >&2
    return 1
}

start_server() {  # start_server NAME PORT [serve options...]: in NS_B, on both families
    local name=$1 port=$2
    shift 2
    # A simple command, not a function: then $! is flowtool itself (ip netns exec execs it),
    # so kill reaches the server and not a subshell.
    ip netns exec "$NS_B" "$FT" serve --listen "$B4:$port" --listen "[$B6]:$port" --log "$TMP/$name.log" \
        --ready-file "$TMP/$name.ready" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    PIDS+=($!)
    wait_for_file "$TMP/$name.ready"
}

# expect_ok REGEX CMD...: exit 0 and stdout matching REGEX.
expect_ok() {
    local want=$1 out rc=0
    shift
    out=$("$@") || rc=$?
    echo "$out"
    [ "$rc" = 0 ] || { echo "exit status $rc, wanted 0"; return 1; }
    [[ $out =~ $want ]] || { echo "output does not match '$want'"; return 1; }
}

# expect_status STATUS REGEX CMD...: exit STATUS (non-zero) and stdout matching REGEX.
expect_status() {
    local status=$1 want=$2 out rc=0
    shift 2
    out=$("$@") || rc=$?
    echo "$out"
    [ "$rc" = "$status" ] || { echo "exit status $rc, wanted $status"; return 1; }
    [[ $out =~ $want ]] || { echo "output does not match '$want'"; return 1; }
}

log_has() {  # log_has FILE REGEX
    grep -Eq "$2" "$1" || { echo "no line matching '$2' in $1:"; cat "$1"; return 1; }
}

bulk_checks() {  # bulk_checks FAMILY SERVER CLIENT_ADDR
    local fam=$1 to=$2:$PORT me=$3
    run "v$fam: upload 20M, reply after half-close, server saw the client" \
        expect_ok "^ok bytes=20971520 sha256=[0-9a-f]{64} .*server_saw=\[?$me\]?:" client upload --to "$to" --bytes 20M
    run "v$fam: the server log names the client address" \
        log_has "$TMP/main.log" "^peer=\[?$me\]?:[0-9]+ mode=upload bytes=20971520 sent=0 ok$"
    run "v$fam: halfclose 1M" expect_ok "^ok bytes=1048576 " client halfclose --to "$to" --bytes 1M
    run "v$fam: download 20M" expect_ok "^ok bytes=20971520 sha256=[0-9a-f]{64} " client download --to "$to" --bytes 20M
    run "v$fam: download 0 bytes" expect_ok "^ok bytes=0 " client download --to "$to" --bytes 0
    run "v$fam: both 10M" expect_ok "^ok bytes=10485760 .*sha256_down=[0-9a-f]{64} " client both --to "$to" --bytes 10M
    run "v$fam: echo 5M" expect_ok "^ok bytes=5242880 " client echo --to "$to" --bytes 5M
    run "v$fam: rr 200 round trips" expect_ok "^rr count=200 size=100 p50_us=[0-9]+ p99_us=[0-9]+ max_us=[0-9]+ " \
        client rr --to "$to" --size 100 --count 200
    run "v$fam: connect-rr 50 connections" expect_ok "^connect-rr count=50 .*connects_per_sec=[0-9.]+ " \
        client connect-rr --to "$to" --size 100 --count 50
    local mode
    for mode in upload download both; do
        run "v$fam: parallel 50 $mode flows" expect_ok "^ok flows=50 failed=0 mode=$mode " \
            client parallel --to "$to" --flows 50 --bytes 256K --mode "$mode"
    done
    run "v$fam: hold 1 s" expect_ok "^ok secs=1 " client hold --to "$to" --secs 1
}

ending_checks() {  # ending_checks FAMILY SERVER
    local fam=$1 to=$2:$PORT closed=$2:$CLOSED_PORT
    run "v$fam: server reset-after: client sees a reset" \
        expect_ok "^reset after_ms=[0-9]+ how=reset " client expect-reset --to "$to" --server-reset-after 1000
    run "v$fam: closed port: refused counts as reset" \
        expect_ok "^reset after_ms=[0-9]+ how=refused " client expect-reset --to "$closed"
    run "v$fam: download end: client sees EOF" \
        expect_ok "^eof after_ms=[0-9]+ sent=0 received=1000" client expect-eof --to "$to" --request download --bytes 1000
    run "v$fam: expect-reset fails (1) on a clean EOF" \
        expect_status 1 "^eof " client expect-reset --to "$to" --request download --bytes 1000
    run "v$fam: expect-eof fails (1) on a reset" \
        expect_status 1 "^reset " client expect-eof --to "$to" --server-reset-after 1000
    run "v$fam: expect-reset times out (2) on a held flow" \
        expect_status 2 "^timeout after_ms=" client expect-reset --to "$to" --hold --timeout-ms 300
    run "v$fam: client RST reaches the server as a reset" \
        expect_ok "^ok end=reset " client reset-server-check --to "$to"
    run "v$fam: client FIN reaches the server as EOF" \
        expect_ok "^ok end=eof " client fin-server-check --to "$to"
}

corrupt_checks() {  # corrupt_checks FAMILY SERVER: every content check must catch one bad byte
    local fam=$1 to=$2:$PORT_CORRUPT cmd
    for cmd in upload download both echo; do
        run "v$fam: corrupting server: $cmd fails with hash_mismatch" \
            expect_status 1 "^fail mode=$cmd error=hash_mismatch" client "$cmd" --to "$to" --bytes 1M
    done
    run "v$fam: corrupting server: rr fails with hash_mismatch" \
        expect_status 1 "^fail mode=rr error=hash_mismatch" client rr --to "$to" --count 10
    run "v$fam: corrupting server: parallel reports every failed flow" \
        expect_status 1 "^fail flows=10 failed=10 .*errors=hash_mismatch:10" \
        client parallel --to "$to" --flows 10 --bytes 64K --mode download
}

deadline_checks() {  # deadline_checks FAMILY SERVER UNREACHABLE_ADDR
    local fam=$1 to=$2:$PORT
    run "v$fam: --timeout-ms ends a transfer that is too long" \
        expect_status 1 "^fail mode=download error=timeout" client download --to "$to" --bytes 100G --timeout-ms 500
    run "v$fam: connect timeout on an unanswered SYN" \
        expect_status 1 "^fail mode=upload error=timeout" client upload --to "$3:$PORT" --bytes 1 --connect-timeout-ms 300
}

# The scenarios below start and wait for processes, so they run in the main shell (not inside
# `check`, whose subshell could neither wait for them nor register them for cleanup) and record
# what they saw with `run` afterwards.

wait_pid() {  # wait_pid PID: its exit status; it is dropped from PIDS so cleanup never kills a reused pid
    local rc=0 p keep=()
    wait "$1" || rc=$?
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
    return "$rc"
}

expect_equal() {  # expect_equal WHAT WANT GOT
    [ "$2" = "$3" ] || { echo "$1: got '$3', wanted '$2'"; return 1; }
}

# A malformed request is refused and logged; a --count server exits 1 when a connection failed.
bad_request_scenario() {
    start_server count1 5003 --count 1 --lifetime-ms 20000
    in_a timeout 5 bash -c "exec 3<>/dev/tcp/$B4/5003; printf 'bogus\n' >&3; cat <&3 >/dev/null" || true
    local rc=0
    wait_pid "${PIDS[-1]}" || rc=$?
    run "malformed request: serve --count 1 exits 1" expect_equal "serve exit status" 1 "$rc"
    run "malformed request: summary counts the failure" \
        log_has "$TMP/count1.out" "^fail connections=1 failed=1 stopped=0$"
    run "malformed request: logged as error=protocol" \
        log_has "$TMP/count1.log" "^peer=$A4:[0-9]+ mode=- bytes=0 sent=0 error=protocol$"
}

count_scenario() {  # serve --count 2 exits 0 after two good connections
    start_server count2 5004 --count 2 --lifetime-ms 20000
    client upload --to "$B4:5004" --bytes 1M >/dev/null 2>&1 || true
    client download --to "[$B6]:5004" --bytes 1M >/dev/null 2>&1 || true
    local rc=0
    wait_pid "${PIDS[-1]}" || rc=$?
    run "serve --count 2 exits 0 after two good flows" expect_equal "serve exit status" 0 "$rc"
    run "serve --count 2 summary" log_has "$TMP/count2.out" "^ok connections=2 failed=0 stopped=0$"
}

# SIGTERM ends a server with an open hold flow; the holder notices the early close.
sigterm_scenario() {
    start_server term 5005
    local server=${PIDS[-1]} holder rc=0
    ip netns exec "$NS_A" timeout 120 "$FT" hold --to "$B4:5005" --secs 30 >"$TMP/hold.out" 2>&1 &
    holder=$!
    PIDS+=("$holder")
    for _ in $(seq 1 50); do
        in_b ss -Htn state established "( sport = :5005 )" | grep -q . && break
        sleep 0.1
    done
    kill -TERM "$server"
    wait_pid "$server" || rc=$?
    run "SIGTERM: serve exits 0" expect_equal "serve exit status" 0 "$rc"
    run "SIGTERM: the open flow is counted as stopped" \
        log_has "$TMP/term.out" "^ok connections=1 failed=0 stopped=1$"
    rc=0
    wait_pid "$holder" || rc=$?
    run "SIGTERM: hold exits 1" expect_equal "hold exit status" 1 "$rc"
    run "SIGTERM: hold reports early_eof" log_has "$TMP/hold.out" "error=early_eof"
}

# serve --timeout-ms is an idle timeout: a stalled upload is cut, an idle hold flow is not.
idle_scenario() {
    start_server idle 5006 --timeout-ms 300
    run "idle server: a stalled upload is closed" \
        expect_ok "^eof " client expect-eof --to "$B4:5006" --request upload --bytes 10 --timeout-ms 5000
    run "idle server: hold outlives the idle timeout" expect_ok "^ok secs=1 " client hold --to "$B4:5006" --secs 1
    run "idle server: the stalled upload is logged as a timeout" \
        log_has "$TMP/idle.log" "^peer=$A4:[0-9]+ mode=upload bytes=0 sent=0 error=timeout$"
}

usage_check() {
    expect_status 64 "^$" "$FT" upload --to nowhere --bytes 1
}

# The main server's only failed connections are the two downloads the client gave up on.
main_log_clean() {
    local bad
    bad=$(grep -v ' ok$' "$TMP/main.log" | grep -Ev ' mode=download .* error=reset$' || true)
    [ -z "$bad" ] || { echo "unexpected failures:"; echo "$bad"; return 1; }
    [ "$(grep -c ' mode=download .* error=reset$' "$TMP/main.log")" = 2 ]
}

setup_net
start_server main "$PORT"
start_server corrupt "$PORT_CORRUPT" --corrupt

bulk_checks 4 "$B4" "$A4"
bulk_checks 6 "[$B6]" "$A6"
ending_checks 4 "$B4"
ending_checks 6 "[$B6]"
corrupt_checks 4 "$B4"
corrupt_checks 6 "[$B6]"
deadline_checks 4 "$B4" 10.99.0.3
deadline_checks 6 "[$B6]" "[fd99::3]"
bad_request_scenario
count_scenario
sigterm_scenario
idle_scenario
run "bad command line exits 64" usage_check
run "the main server's log has no unexpected failure" main_log_clean
finish
