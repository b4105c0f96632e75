#!/bin/bash
# Integration: pepsal under failure. Table full, queuer killed, workers SIGKILLed under load,
# shutdown with live flows, daemon mode through the init script, and the latency of small
# request/response exchanges (a corking bug would add hundreds of ms; the bound is generous).
set -u
. "$(dirname "$0")/lib/it_setup.sh"

PEP_DIR=$(mktemp -d /tmp/pepsal-it-robust.XXXXXX)

cleanup() {
    pep_stop pepb >/dev/null 2>&1
    if [ -s "$PEP_DIR/daemon.pid" ]; then kill "$(cat "$PEP_DIR/daemon.pid")" 2>/dev/null; sleep 1; fi
    it_stop_background
    testbed_down
    rm -rf "$PEP_DIR"
}
trap cleanup EXIT

client() { tb_exec client "$FT" "$@"; }
DST4=""

start_servers() {
    it_start_servers "$TB_SERVER_V4:5201" "$TB_SERVER_V4:5202"
    DST4=$TB_SERVER_V4
}


hold_flows() {  # hold_flows N PORT SECS: N idle flows in the background
    local i
    for i in $(seq 1 "$1"); do
        tb_spawn client "$FT" hold --to "$DST4:$2" --secs "$3" >/dev/null 2>&1
        BG_PIDS="$BG_PIDS $!"
    done
}

wait_active() {  # wait_active N: until the table holds at least N active flows
    local i
    for i in $(seq 1 100); do
        [ "$(pep_status pepb | grep -c ' active ')" -ge "$1" ] && return 0
        sleep 0.05
    done
    return 1
}

table_full_bypasses() {
    hold_flows 2 5202 6
    wait_active 2 || { echo "holders not active"; return 1; }
    client upload --to "$DST4:5201" --bytes 5M || return 1
    local peer; peer=$(last_peer_addr "$PEP_DIR/srv4-5201.log")
    [ "$peer" = "$TB_CLIENT_V4" ] || { echo "server saw $peer, expected the client itself (unproxied)"; return 1; }
    [ "$(pep_counter pepb full)" -ge 1 ] || { echo "full counter not raised"; pep_status pepb; return 1; }
}

queuer_killed_traffic_passes() {
    local qpid
    qpid=$(grep -o 'queuer started (pid [0-9]*' "$PEP_DIR/pepb.log" | tail -1 | grep -o '[0-9]*$')
    [ -n "$qpid" ] || { echo "queuer pid not logged"; return 1; }
    kill -KILL "$qpid" || return 1
    client upload --to "$DST4:5201" --bytes 5M || return 1
    sleep 1.5  # the supervisor restarts the queuer
    client upload --to "$DST4:5201" --bytes 5M || return 1
    grep -q "queuer (pid $qpid) killed by signal 9" "$PEP_DIR/pepb.log" || { echo "restart not logged"; return 1; }
}

workers_killed_under_load() {
    hold_flows 10 5202 20
    tb_spawn client "$FT" parallel --to "$DST4:5201" --flows 20 --bytes 30M --mode both >"$PEP_DIR/par.out" 2>&1
    local par=$! victims v
    wait_active 25 || { echo "flows not active"; pep_status pepb; return 1; }
    victims=$(pep_workers_for_port pepb 5202 | shuf | head -5)
    [ -n "$victims" ] || { echo "no victim workers found"; return 1; }
    for v in $victims; do kill -KILL "$v"; done
    wait "$par" || { echo "transfers were harmed:"; cat "$PEP_DIR/par.out"; return 1; }
    for v in $victims; do
        if ps -o stat= -p "$v" 2>/dev/null | grep -q Z; then echo "zombie worker $v"; return 1; fi
        if pep_status pepb | grep -q " pid $v "; then echo "stale slot of worker $v"; return 1; fi
    done
}

no_zombies() {
    local z
    z=$(ps -eo ppid=,stat= | awk -v a="$(pep_pid pepb)" '$2 ~ /Z/' | wc -l)
    [ "$z" = 0 ] || { ps -eo pid,ppid,stat,cmd | awk '$3 ~ /Z/'; return 1; }
}

end_background() {
    local p
    for p in $BG_PIDS; do kill "$p" 2>/dev/null; done
    for p in $BG_PIDS; do wait "$p" 2>/dev/null; done
    BG_PIDS=""
}

shutdown_resets_flows() {
    end_background
    local i
    for i in $(seq 1 50); do
        [ "$(pep_status pepb | grep -c ' active ')" = 0 ] && break
        sleep 0.1
    done
    tb_spawn client "$FT" expect-reset --to "$DST4:5202" --hold --timeout-ms 10000 >"$PEP_DIR/rst.out" 2>&1
    local holder=$!
    wait_active 1 || return 1
    pep_stop pepb || { echo "pepsal exit status $?"; return 1; }
    wait "$holder" || { echo "client did not see a reset:"; cat "$PEP_DIR/rst.out"; return 1; }
    [ ! -e "/dev/shm/pepsal-test-pepb-$$" ] || { echo "segment left behind"; return 1; }
}

rr_latency() {  # p50 of 100-byte request/response through pepsal stays within 20 ms of direct
    local via direct
    via=$(client rr --to "$DST4:5201" --size 100 --count 300 | sed -n 's/.*p50_us=\([0-9]*\).*/\1/p')
    direct=$(tb_exec pepb "$FT" rr --to "$DST4:5201" --size 100 --count 300 | sed -n 's/.*p50_us=\([0-9]*\).*/\1/p')
    echo "rr p50: via pepsal ${via} us, direct from the router ${direct} us"
    [ -n "$via" ] && [ -n "$direct" ] && [ "$via" -lt $((direct + 20000)) ]
}

supervisor_killed_then_restart() {
    local sup qpid cpid i
    sup=$(pep_pid pepb)
    qpid=$(grep -o 'queuer started (pid [0-9]*' "$PEP_DIR/pepb.log" | tail -1 | grep -o '[0-9]*$')
    cpid=$(grep -o 'connmgr started (pid [0-9]*' "$PEP_DIR/pepb.log" | tail -1 | grep -o '[0-9]*$')
    kill -KILL "$sup"; wait "$sup" 2>/dev/null; PEP_PID_pepb=""
    for i in $(seq 1 50); do
        kill -0 "$qpid" 2>/dev/null || kill -0 "$cpid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$qpid" 2>/dev/null || kill -0 "$cpid" 2>/dev/null; then echo "queuer/connmgr outlived the supervisor"; return 1; fi
    [ -e "/dev/shm/pepsal-test-pepb-$$" ] || { echo "expected a stale segment to be left"; return 1; }
    pep_start "$(tb_ns pepb)" pepb || return 1
    client upload --to "$DST4:5201" --bytes 5M || return 1
    local peer; peer=$(last_peer_addr "$PEP_DIR/srv4-5201.log")
    [ "$peer" = "$TB_PEPB_SERVER_V4" ] || { echo "not proxied after restart: server saw $peer"; return 1; }
    [ "$(pep_counter pepb missed)" = 0 ] || { echo "queuer did not record the flow"; return 1; }
}

daemon_via_init_script() {
    local conf=$PEP_DIR/daemon.conf
    printf 'shm-name=pepsal-test-daemon-%s\npid-file=%s/daemon.pid\n' $$ "$PEP_DIR" >"$conf"
    local env="DAEMON=$BUILD/pepsal FIREWALL=$REPO/etc/pepsal-firewall CONFIG=$conf"
    tb_exec pepb env $env "$REPO/etc/init.d/pepsal" start || return 1
    [ -s "$PEP_DIR/daemon.pid" ] || { echo "no pid file"; return 1; }
    tb_exec pepb env $env "$REPO/etc/init.d/pepsal" status || return 1
    client upload --to "$DST4:5201" --bytes 5M || return 1
    local peer; peer=$(last_peer_addr "$PEP_DIR/srv4-5201.log")
    [ "$peer" = "$TB_PEPB_SERVER_V4" ] || { echo "not proxied: server saw $peer"; return 1; }
    tb_exec pepb env $env "$REPO/etc/init.d/pepsal" stop || return 1
    [ ! -e "$PEP_DIR/daemon.pid" ] || { echo "pid file left"; return 1; }
    tb_exec pepb iptables -t nat -S | grep -q PEPSAL && { echo "rules left"; return 1; }
    client upload --to "$DST4:5201" --bytes 1M  # traffic flows again, unproxied
}

testbed_up none >/dev/null
start_servers

pep_start "$(tb_ns pepb)" pepb max-conns=2 || fail "pepsal starts (max-conns=2)"
check "table full: new flows still succeed, unproxied, and are counted" table_full_bypasses
pep_stop pepb >/dev/null; BG_PIDS=""

pep_start "$(tb_ns pepb)" pepb || fail "pepsal starts"
check "queuer SIGKILLed: traffic still passes, queuer restarted" queuer_killed_traffic_passes
check "workers SIGKILLed under load: other flows intact, no zombie, no stale slot" workers_killed_under_load
check "no zombie processes under pepsal" no_zombies
check "100-byte request/response adds < 20 ms at p50" rr_latency
check "supervisor SIGKILLed: children exit; a new start replaces the stale segment" supervisor_killed_then_restart
check "SIGTERM: exit 0, live flows reset, segment removed" shutdown_resets_flows
check "daemon mode through the init script: start, status, proxy, stop" daemon_via_init_script
finish
