#!/bin/bash
# Benchmark: pepsal versus plain kernel routing on unlimited veths (testbed profile "none",
# pepsal at pepb). Prints figures; asserts nothing about speed. Each figure is measured side by
# side in one run (routing, then pepsal, alternating, median of REPS) because this machine is
# shared and noisy: compare the ratios, not the absolute numbers.
#   bulk throughput (iperf3, download, SECS s), CPU seconds per GB (whole machine, /proc/stat,
#   and pepsal's own processes), new flows per second (connect + 100-byte request/response),
#   100-byte request/response latency, memory (PSS) per idle flow.
set -u
. "$(dirname "$0")/../lib/it_setup.sh"

REPS=${REPS:-3}
SECS=${SECS:-8}
OUT=${OUT:-$BUILD/bench}
mkdir -p "$OUT"
PEP_DIR=$(mktemp -d /tmp/pepsal-bench-fwd.XXXXXX)
FT=$BUILD/flowtool
PIDS=""

cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    pep_stop pepb >/dev/null 2>&1
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    testbed_down
    rm -rf "$PEP_DIR"
}
trap cleanup EXIT

busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
HZ=$(getconf CLK_TCK)

# CPU jiffies (user+system, children included) of pepsal's whole process tree.
pep_jiffies() {
    local root=$1 total=0 p
    for p in $root $(pgrep -P "$root") $(for c in $(pgrep -P "$root"); do pgrep -P "$c"; done); do
        [ -r "/proc/$p/stat" ] || continue
        total=$((total + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 + $14 + $15 }')))
    done
    echo "$total"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "nan" }'; }

# One iperf3 download; prints "MBIT BUSY_JIFFIES PEP_JIFFIES BYTES".
iperf_run() {
    local b0 b1 p0=0 p1=0 line
    b0=$(busy_jiffies)
    [ -z "${PEP_ROOT:-}" ] || p0=$(pep_jiffies "$PEP_ROOT")
    line=$(tb_exec client iperf3 -c "$TB_SERVER_V4" -p 5301 -t "$SECS" -R -f m 2>&1 | grep -E 'receiver$' | tail -1)
    b1=$(busy_jiffies)
    [ -z "${PEP_ROOT:-}" ] || p1=$(pep_jiffies "$PEP_ROOT")
    local mbit bytes
    mbit=$(echo "$line" | awk '{ for (i = 1; i <= NF; i++) if ($i == "Mbits/sec") print $(i - 1) }')
    bytes=$(awk -v m="${mbit:-0}" -v s="$SECS" 'BEGIN { printf "%.0f", m * 1e6 / 8 * s }')
    echo "${mbit:-0} $((b1 - b0)) $((p1 - p0)) $bytes"
}

rr_p50() { tb_exec client "$FT" rr --to "$TB_SERVER_V4:5201" --size 100 --count 2000 | sed -n 's/.*p50_us=\([0-9]*\).*/\1/p'; }
rr_p99() { tb_exec client "$FT" rr --to "$TB_SERVER_V4:5201" --size 100 --count 2000 | sed -n 's/.*p99_us=\([0-9]*\).*/\1/p'; }
cps() { tb_exec client "$FT" connect-rr --to "$TB_SERVER_V4:5201" --size 100 --count 2000 | sed -n 's/.*connects_per_sec=\([0-9.]*\).*/\1/p'; }

measure() {  # measure LABEL: REPS runs of every figure, medians into $OUT/fwd-LABEL.txt
    local label=$1 i r mbits="" cpu_gb="" pep_gb="" p50s="" cpss=""
    for i in $(seq 1 "$REPS"); do
        r=$(iperf_run)
        set -- $r
        mbits="$mbits $1"
        cpu_gb="$cpu_gb $(awk -v j="$2" -v b="$4" -v hz="$HZ" 'BEGIN { if (b > 0) printf "%.2f", j / hz / (b / 1e9); else print "nan" }')"
        pep_gb="$pep_gb $(awk -v j="$3" -v b="$4" -v hz="$HZ" 'BEGIN { if (b > 0) printf "%.2f", j / hz / (b / 1e9); else print "nan" }')"
        p50s="$p50s $(rr_p50)"
        cpss="$cpss $(cps)"
    done
    {
        echo "mbit $(printf '%s\n' $mbits | median)"
        echo "cpu_s_per_gb $(printf '%s\n' $cpu_gb | median)"
        echo "pep_cpu_s_per_gb $(printf '%s\n' $pep_gb | median)"
        echo "rr_p50_us $(printf '%s\n' $p50s | median)"
        echo "connects_per_sec $(printf '%s\n' $cpss | median)"
    } >"$OUT/fwd-$label.txt"
    echo "[$label] iperf3 Mbit/s:$mbits | rr p50 us:$p50s | connects/s:$cpss"
}

# PSS of each worker holding an idle flow, averaged (kB).
idle_flow_pss() {
    local n=${IDLE_FLOWS:-100} i pids total=0 count=0 p pss
    for i in $(seq 1 "$n"); do
        tb_spawn client "$FT" hold --to "$TB_SERVER_V4:5201" --secs 30 >/dev/null 2>&1
        PIDS="$PIDS $!"
    done
    for i in $(seq 1 100); do
        [ "$(pep_status pepb | grep -c ' active ')" -ge "$n" ] && break
        sleep 0.1
    done
    for p in $(pep_status pepb | awk '$1 == "flow" && $3 == "active" { print $8 }'); do
        pss=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null)
        [ -n "$pss" ] || continue
        total=$((total + pss)); count=$((count + 1))
    done
    echo "idle_workers $count" >>"$OUT/fwd-pepsal.txt"
    echo "pss_kb_per_idle_flow $(awk -v t="$total" -v c="$count" 'BEGIN { if (c) printf "%.0f", t / c; else print "nan" }')" >>"$OUT/fwd-pepsal.txt"
}

testbed_up none >/dev/null
tb_spawn server iperf3 -s -p 5301 >/dev/null 2>&1
PIDS="$PIDS $!"
tb_spawn server "$FT" serve --listen "$TB_SERVER_V4:5201" --timeout-ms 0 >/dev/null 2>&1
PIDS="$PIDS $!"
sleep 0.5

PEP_ROOT="" measure routing
pep_start "$(tb_ns pepb)" pepb log-level=warning >/dev/null
PEP_VERBOSE=""
PEP_ROOT=$(pep_pid pepb) measure pepsal
idle_flow_pss

val() { awk -v k="$2" '$1 == k { print $2 }' "$OUT/fwd-$1.txt"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }
{
    echo "| figure (median of $REPS, one run, side by side) | kernel routing | pepsal | ratio |"
    echo "|---|---|---|---|"
    echo "| bulk throughput, iperf3 ${SECS} s download (Mbit/s) | $(val routing mbit) | $(val pepsal mbit) | $(ratio "$(val pepsal mbit)" "$(val routing mbit)") |"
    echo "| machine CPU per GB moved (CPU-s/GB, all processes + softirq) | $(val routing cpu_s_per_gb) | $(val pepsal cpu_s_per_gb) | $(ratio "$(val pepsal cpu_s_per_gb)" "$(val routing cpu_s_per_gb)") |"
    echo "| pepsal's own processes per GB (CPU-s/GB) | - | $(val pepsal pep_cpu_s_per_gb) | |"
    echo "| new flows per second (connect + 100 B request/response) | $(val routing connects_per_sec) | $(val pepsal connects_per_sec) | $(ratio "$(val pepsal connects_per_sec)" "$(val routing connects_per_sec)") |"
    echo "| 100 B request/response, p50 (us) | $(val routing rr_p50_us) | $(val pepsal rr_p50_us) | +$(awk -v a="$(val pepsal rr_p50_us)" -v b="$(val routing rr_p50_us)" 'BEGIN { print a - b }') us |"
    echo "| memory per idle flow (worker PSS, kB, $(val pepsal idle_workers) flows) | - | $(val pepsal pss_kb_per_idle_flow) | |"
} | tee "$OUT/forwarding.md"
