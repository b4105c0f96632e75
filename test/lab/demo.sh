#!/bin/bash
# `make demo`: what pepsal does for a lossy geostationary satellite link, in under 3 minutes.
# Builds the lab with the "lossy" profile (600 ms RTT, 50/10 Mbit/s, 1 % loss each way), serves
# a file from nginx in the server namespace and downloads it with curl from the client
# namespace twice: straight through (the end hosts' CUBIC alone against the loss) and through
# pepsal at the gateway (pepb), whose satellite-facing socket uses BBR when the kernel has it
# (the demo prints what pepsal resolved its congestion control to). Prints completion
# time, goodput, time to first byte and the speed-up. Needs root.
#   usage: test/lab/demo.sh [BUILD_DIR]
#   DEMO_SIZE (default 4M: ~60 s at the ~0.5 Mbit/s CUBIC manages at 1 % loss),
#   DEMO_MAX_SECS (default 90: a run is cut off there and reported as unfinished),
#   DEMO_BUDGET_SECS (default 170: a run the emulator could not keep up with is repeated
#   only while the whole demo stays within this)
set -u
. "$(dirname "$0")/../lib/it_setup.sh" "$@"
. test/lab/nginx.sh
. test/bench/lib.sh

DEMO_SIZE=${DEMO_SIZE:-4M}
DEMO_MAX_SECS=${DEMO_MAX_SECS:-90}
DEMO_BUDGET_SECS=${DEMO_BUDGET_SECS:-170}
PROFILE=lossy
WORK=$(mktemp -d /tmp/pepsal-demo.XXXXXX)
PEP_DIR=$WORK/pep
mkdir -p "$PEP_DIR"

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    bench_pep_down gateway
    nginx_stop
    testbed_down
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "demo: interrupted" >&2; exit 130' INT TERM

say() { printf '%s\n' "$*"; }

# download LABEL: one download; sets RESULT (bench_http_get's line). If the emulator fell
# behind, its warnings land in $WORK/emu-LABEL.txt. The emulator is restarted first so that
# its verdict covers this run alone.
download() {
    testbed_profile "$PROFILE" || exit 1
    RESULT=$(bench_http_get client "http://$TB_SERVER_V4/files/demo.bin" "$DEMO_MAX_SECS")
    testbed_emu_check 2>"$WORK/emu-$1.txt" >/dev/null ||
        [[ -s $WORK/emu-$1.txt ]] || echo "testbed_emu_check failed" >"$WORK/emu-$1.txt"
    bench_reset_flows
}

# measure LABEL RESERVE_SECS: download LABEL, once more if the emulator fell behind and the
# repeat still leaves RESERVE_SECS for what follows within DEMO_BUDGET_SECS.
measure() {
    local start=$SECONDS
    download "$1"
    if [[ -s $WORK/emu-$1.txt ]] && ((2 * SECONDS - start + $2 < DEMO_BUDGET_SECS)); then
        say "    the link emulator fell behind (busy machine?); measuring again ..."
        download "$1"
    fi
}

# One table row: label, completion time, goodput, TTFB; aligned with the header in report().
row() {  # LABEL RESULT
    local r=$2 finish ttfb
    finish=$(printf '%.2f s' "$(bench_field "$r" secs)") ttfb=$(printf '%.2f s' "$(bench_field "$r" ttfb)")
    if [[ $(bench_field "$r" capped) == 1 ]]; then
        finish="did not finish in $DEMO_MAX_SECS s" ttfb=-
    elif [[ $(bench_field "$r" rc) != 0 || $(bench_field "$r" code) != 200 ]]; then
        finish="failed (curl $(bench_field "$r" rc), HTTP $(bench_field "$r" code))" ttfb=-
    fi
    printf '  %-20s %26s %15s %9s\n' "$1" "$finish" "$(printf '%.2f Mbit/s' "$(bench_field "$r" mbit)")" "$ttfb"
}

report() {
    local speedup
    speedup=$(awk -v a="$(bench_field "$DIRECT" mbit)" -v b="$(bench_field "$PEP" mbit)" \
        'BEGIN { if (a > 0) printf "%.1fx", b / a; else print "-" }')
    [[ $(bench_field "$DIRECT" capped) == 1 ]] && speedup=">= $speedup"
    printf '\n  %-20s %26s %15s %9s\n' "$DEMO_SIZE download" "completion" "goodput" "TTFB"
    row "without PEP" "$DIRECT"
    row "pepsal at gateway" "$PEP"
    printf '  %-20s %26s %15s\n\n' "speed-up" "" "$speedup"
    local run bad=0
    for run in direct pep; do
        if [[ -s $WORK/emu-$run.txt ]]; then
            say "WARNING: the link emulator fell behind during the $run run; its figures are not trustworthy:"
            sed 's/^/  /' "$WORK/emu-$run.txt"
            bad=1
        fi
    done
    ((bad)) || say "The link emulator kept up during both runs (testbed_emu_check ok)."
}

say "pepsal demo: profile $PROFILE (600 ms RTT, 50/10 Mbit/s, 1 % loss each way), $DEMO_SIZE file"
say "building the lab (namespaces ${TB}*) ..."
testbed_up "$PROFILE" || exit 1
nginx_make_file "$WORK/nginx" demo.bin "$DEMO_SIZE"
nginx_start server "$WORK/nginx" || exit 1

say "1/2 curl without a PEP (end hosts use CUBIC; up to $DEMO_MAX_SECS s) ..."
measure direct 40
DIRECT=$RESULT

bench_pep_up gateway || exit 1
CC=$(pep_cmd pepb --check-config | sed -n 's/^client-congestion=//p')
say "2/2 curl through pepsal at the gateway (pepb; congestion control towards the satellite: $CC) ..."
measure pep 0
PEP=$RESULT
bench_pep_down gateway

report
exit 0
