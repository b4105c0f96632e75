#!/bin/bash
# Integration: the single-box PEP in redirect and tproxy modes, IPv4 and IPv6, on the lab
# testbed without link emulation (client - pepA - sat - pepB - server; pepsal runs in pepB, the
# gateway). Real kernel, real netfilter, real processes.
set -u
. "$(dirname "$0")/lib/it_setup.sh"

PEP_DIR=$(mktemp -d /tmp/pepsal-it-direct.XXXXXX)
BIG=${IT_BIG:-200M}

cleanup() {
    pep_stop pepb >/dev/null 2>&1
    it_stop_background
    testbed_down
    rm -rf "$PEP_DIR"
}
trap cleanup EXIT

start_servers() {
    it_start_servers "$TB_SERVER_V4:5201" "[$TB_SERVER_V6]:5201" "$TB_SERVER_V4:5202" "[$TB_SERVER_V6]:5202"
}

client() { tb_exec client "$FT" "$@"; }


expect_peer() {  # expect_peer LOGFILE ADDRESS
    local got; got=$(last_peer_addr "$1")
    [ "$got" = "$2" ] || { echo "server saw $got, expected $2"; return 1; }
}

# A flow held open shows up in pepsal's table as active, with its worker's pid.
table_shows_flow() {
    local dst=$1 holder i
    tb_spawn client "$FT" hold --to "$dst:5202" --secs 5 >/dev/null 2>&1
    holder=$!
    for i in $(seq 1 50); do
        if pep_status pepb | grep -q "active .* -> .*:5202 pid"; then
            kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
            return 0
        fi
        sleep 0.1
    done
    kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
    pep_status pepb
    return 1
}

slots_drain() {  # the table empties once every flow has ended
    local i used
    for i in $(seq 1 50); do
        used=$(pep_status pepb | awk '$1 == "slots" { split($2, a, "/"); print a[1] }')
        [ "$used" = 0 ] && return 0
        sleep 0.1
    done
    pep_status pepb
    return 1
}

queuer_saw_all() {
    local missed inserted
    missed=$(pep_counter pepb missed); inserted=$(pep_counter pepb inserted)
    echo "inserted=$inserted missed=$missed"
    [ "$missed" = 0 ] && [ "$inserted" -gt 400 ]
}

family_checks() {  # family_checks MODE FAMILY SERVER_ADDR PEP_ADDR
    local mode=$1 fam=$2 srv=$3 pep_addr=$4 dst
    dst=$srv; [ "$fam" = 6 ] && dst="[$srv]"
    check "$mode v$fam: $BIG upload, sha256 checked" client upload --to "$dst:5201" --bytes "$BIG"
    check "$mode v$fam: $BIG download, sha256 checked" client download --to "$dst:5201" --bytes "$BIG"
    check "$mode v$fam: split: the server saw pepsal's address" expect_peer "$PEP_DIR/srv$fam-5201.log" "$pep_addr"
    check "$mode v$fam: 20 MB both ways at once" client both --to "$dst:5201" --bytes 20M
    check "$mode v$fam: half-close: reply after client EOF" client halfclose --to "$dst:5201" --bytes 1M
    check "$mode v$fam: the table shows a live flow" table_shows_flow "$dst"
    check "$mode v$fam: closed port: client reset within 1 s" client expect-reset --to "$dst:5299" --timeout-ms 1000
    check "$mode v$fam: server reset reaches the client as a reset" client expect-reset --to "$dst:5201" --server-reset-after 1000 --timeout-ms 5000
    check "$mode v$fam: client reset reaches the server as a reset" client reset-server-check --to "$dst:5201"
    check "$mode v$fam: 200 concurrent flows" client parallel --to "$dst:5201" --flows 200 --bytes 256K --mode both
}

testbed_up none >/dev/null
start_servers
for mode in redirect tproxy; do
    pep_start "$(tb_ns pepb)" pepb "mode=$mode" || { fail "$mode: pepsal starts"; continue; }
    family_checks "$mode" 4 "$TB_SERVER_V4" "$TB_PEPB_SERVER_V4"
    family_checks "$mode" 6 "$TB_SERVER_V6" "$TB_PEPB_SERVER_V6"
    check "$mode: every slot freed after the flows ended" slots_drain
    check "$mode: the queuer recorded every flow (no fallback to the kernel)" queuer_saw_all
    check "$mode: pepsal exits 0 on SIGTERM" pep_stop pepb
done
finish
