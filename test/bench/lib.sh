# shellcheck shell=bash
# Measurement helpers shared by test/bench/satellite.sh and test/lab/demo.sh: real clients
# (curl, iperf3) across the satellite lab, the emulator's CPU cost, pepsal deployments and
# the link capacities of a profile. Sourced after test/lib/pep.sh, test/lab/testbed.sh and
# test/lab/nginx.sh. Every measuring function prints one line of key=value pairs.

BENCH_HZ=$(getconf CLK_TCK)
BENCH_HTTP_PORT=80
BENCH_IPERF_PORT=5201

bench_now() { date +%s.%N; }

# Median of the numbers on stdin ("nan" when there are none).
bench_median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "nan" }'; }

# Value of KEY in a "k1=v1 k2=v2" line (empty when absent).
bench_field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -1; }

bench_mbit() {  # BYTES SECONDS
    awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.3f", b * 8 / s / 1e6; else print "nan" }'
}

# A linkemu rate (50mbit, 500kbit, 1gbit, 64000bit) in Mbit/s; empty for "unlimited".
bench_rate_mbit() {
    awk -v r="$1" 'BEGIN {
        if (r ~ /gbit$/) m = 1000; else if (r ~ /mbit$/) m = 1; else if (r ~ /kbit$/) m = 0.001;
        else if (r ~ /bit$/) m = 1e-6; else exit
        sub(/[a-z]+$/, "", r); printf "%g", r * m }'
}

# Link capacity in Mbit/s of PROFILE in DIRECTION (download = the "down" link), as
# profiles.sh and its environment overrides define it; empty for an unlimited link.
bench_capacity_mbit() {
    local profile=$1 dir=$2 key i
    [[ $dir == download ]] && key=--down-rate || key=--up-rate
    tb_profile_args "$profile" || return 1
    for ((i = 0; i < ${#TB_EMU_ARGS[@]}; i += 2)); do
        [[ ${TB_EMU_ARGS[i]} == "$key" ]] && bench_rate_mbit "${TB_EMU_ARGS[i + 1]}"
    done
    return 0
}

# "RTT 600 ms, 50/10 Mbit/s": the round trip and link rates (down/up) of PROFILE.
bench_profile_summary() {
    tb_profile_args "$1" || return 1
    local -A o=()
    local i
    for ((i = 0; i < ${#TB_EMU_ARGS[@]}; i += 2)); do o[${TB_EMU_ARGS[i]#--}]=${TB_EMU_ARGS[i + 1]}; done
    echo "RTT $(awk -v a="${o[down-delay-ms]:-0}" -v b="${o[up-delay-ms]:-0}" 'BEGIN { print a + b }') ms," \
        "$(bench_rate_mbit "${o[down-rate]:-}")/$(bench_rate_mbit "${o[up-rate]:-}") Mbit/s"
}

# CPU jiffies (user + system, all threads) the running link emulator has used so far.
bench_emu_jiffies() {
    local pid=${TB_EMU_PID:-}
    [[ -n $pid && -r /proc/$pid/stat ]] || { echo 0; return; }
    sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }'
}

bench_cpu_pct() {  # JIFFIES SECONDS: share of one core, in %
    awk -v j="$1" -v s="$2" -v hz="$BENCH_HZ" 'BEGIN { if (s > 0) printf "%.1f", 100 * j / hz / s; else print "nan" }'
}

# bench_http_get NODE URL MAX_SECS: one download with curl. Prints
#   rc= code= bytes= secs= ttfb= capped=0|1 mbit=
# A transfer stopped by --max-time (curl exit 28) is capped: bytes are what arrived so far.
bench_http_get() {
    local node=$1 url=$2 max=$3 out rc
    out=$(tb_exec "$node" curl -sS -o /dev/null --connect-timeout "$max" --max-time "$max" \
        -w '%{http_code} %{size_download} %{time_total} %{time_starttransfer}' "$url" 2>/dev/null)
    rc=$?
    # shellcheck disable=SC2086 # the -w fields, one word each
    _bench_curl_result "$rc" $out
}

_bench_curl_result() {  # RC CODE BYTES SECS TTFB
    local rc=$1 code=${2:-000} bytes=${3:-0} secs=${4:-0} ttfb=${5:-0} capped=0
    [[ $rc == 28 ]] && capped=1
    echo "rc=$rc code=$code bytes=$bytes secs=$secs ttfb=$ttfb capped=$capped mbit=$(bench_mbit "$bytes" "$secs")"
}

# Bytes the server NODE has received so far on its established connections to PORT (the
# largest one): what crossed the link of an upload that curl gave up on. curl's own count
# would include everything still queued in its socket buffers (megabytes).
bench_server_received() {
    local node=$1 port=$2
    tb_exec "$node" ss -Htin state established "( sport = :$port )" |
        grep -o 'bytes_received:[0-9]*' | cut -d: -f2 | sort -n | tail -1
}

# bench_http_put NODE FILE URL MAX_SECS SERVER_NODE: one upload with curl -T (HTTP PUT).
# Prints the same keys as bench_http_get; bytes=file size when done, else what the server
# had received when curl gave up. "Expect: 100-continue" is switched off: it would add one
# round trip that measures curl, not the path.
bench_http_put() {
    local node=$1 file=$2 url=$3 max=$4 server=$5 out rc
    out=$(tb_exec "$node" curl -sS -o /dev/null -H 'Expect:' -T "$file" --connect-timeout "$max" \
        --max-time "$max" -w '%{http_code} %{size_upload} %{time_total} %{time_starttransfer}' \
        "$url" 2>/dev/null)
    rc=$?
    # shellcheck disable=SC2086
    set -- $out
    local bytes=${2:-0}
    if [[ $rc == 28 ]]; then
        bytes=$(bench_server_received "$server" "$BENCH_HTTP_PORT")
        [[ -n $bytes ]] || bytes=$(_bench_logged_length "$url")
    fi
    _bench_curl_result "$rc" "${1:-000}" "${bytes:-0}" "${3:-0}" "${4:-0}"
}

# The request length nginx logged for URL, once it has ended (waits up to 5 s).
_bench_logged_length() {
    local uri=/${1#*://*/} i line
    for ((i = 0; i < 50; i++)); do
        line=$(nginx_log_line "$uri")
        [[ -n $line ]] && { awk '{ print $3 }' <<<"$line"; return; }
        sleep 0.1
    done
    echo 0
}

# bench_iperf_start NODE SERVER_NODE ADDR SECS download|upload LOG: starts one iperf3 run
# (download = iperf3 -R) against a fresh one-off server, so that an aborted earlier test cannot
# leave it busy; both keep running in the background (BENCH_IPERF_CLIENT_PID and
# BENCH_IPERF_SERVER_PID) until bench_iperf_finish.
bench_iperf_start() {
    local node=$1 server=$2 addr=$3 secs=$4 dir=$5 log=$6 i
    tb_spawn "$server" iperf3 -s -1 -f m -p "$BENCH_IPERF_PORT" </dev/null >/dev/null 2>&1
    BENCH_IPERF_SERVER_PID=$!
    for ((i = 0; i < 100; i++)); do
        tb_exec "$server" ss -Hltn "sport = :$BENCH_IPERF_PORT" | grep -q . && break
        sleep 0.05
    done
    local rev=()
    [[ $dir == download ]] && rev=(-R)
    # The timeout only guards against a hang: a 600 ms path needs a few seconds to set up.
    # --get-server-output: for uploads the receiver's per-second figures are the server's.
    tb_spawn "$node" timeout $((secs + 60)) iperf3 -c "$addr" -p "$BENCH_IPERF_PORT" -t "$secs" \
        "${rev[@]}" -f m --get-server-output --connect-timeout 10000 </dev/null >"$log" 2>&1
    BENCH_IPERF_CLIENT_PID=$!
}

# bench_iperf_finish SECS download|upload LOG: waits for the run and sets BENCH_IPERF_RESULT
# to the receiver's figures:  rc= bytes= secs= mbit= steady= capped=0
# steady: mean receiver rate over the second half of the run (after the ramp-up).
# Not to be called in a subshell ($(...)), which cannot wait for this shell's children.
bench_iperf_finish() {
    local secs=$1 dir=$2 log=$3 rc
    wait "$BENCH_IPERF_CLIENT_PID"
    rc=$?
    kill "$BENCH_IPERF_SERVER_PID" 2>/dev/null
    wait "$BENCH_IPERF_SERVER_PID" 2>/dev/null
    BENCH_IPERF_CLIENT_PID=''
    BENCH_IPERF_SERVER_PID=''
    # shellcheck disable=SC2034 # the caller's result
    BENCH_IPERF_RESULT=$(_bench_iperf_parse "$rc" "$secs" "$dir" "$log")
}

_bench_iperf_parse() {  # RC SECS DIRECTION LOG
    local rc=$1 secs=$2 dir=$3 log=$4
    awk -v rc="$rc" -v half="$(awk -v s="$secs" 'BEGIN { print s / 2 }')" -v dir="$dir" '
        /^Server output:/ { server = 1 }
        # The receiver side: the client for downloads, the server for uploads.
        (dir == "download") != server && / sec / && !/sender|receiver/ {
            for (i = 1; i < NF; i++) if ($(i + 1) == "sec" && split($i, iv, "-") == 2 && iv[1] + 0 >= half + 0)
                for (j = i; j < NF; j++) if ($(j + 1) == "Mbits/sec") { sum += $j; n++ }
        }
        # "[  5]   0.00-30.00  sec   101 MBytes  28.1 Mbits/sec   receiver": the byte count
        # (binary units) is more precise than the rounded rate.
        !server && / receiver$/ {
            for (i = 1; i < NF; i++) {
                if ($(i + 1) == "sec" && split($i, iv, "-") == 2) t = iv[2] - iv[1]
                if ($(i + 1) ~ /^[KMG]?Bytes$/) b = $i * unit[substr($(i + 1), 1, 1)]
            }
            got = 1
        }
        BEGIN { unit["B"] = 1; unit["K"] = 1024; unit["M"] = 1048576; unit["G"] = 1073741824 }
        END {
            if (!got && rc == 0) rc = 1
            mbit = t > 0 ? b * 8 / t / 1e6 : 0
            steady = n ? sprintf("%.3f", sum / n) : ""
            printf "rc=%d bytes=%.0f secs=%.3f mbit=%.3f steady=%s capped=0\n", rc, b, t, mbit, steady
        }' "$log"
}

# Waits at most MAX_SECS for a second in which the machine's CPUs are less than BUSY_PCT %
# busy, and prints the seconds waited. Other work on a shared machine is what makes the
# emulator fall behind, so a refused run is worth repeating only once it has calmed down.
bench_wait_quiet() {
    local max=$1 limit=$2 waited=0 before after
    while ((waited < max)); do
        before=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
        sleep 1
        after=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
        awk -v a="$before" -v b="$after" -v lim="$limit" 'BEGIN {
            split(a, x, " "); split(b, y, " "); t = y[2] - x[2]
            exit !(t > 0 && 100 * (y[1] - x[1]) / t < lim) }' && break
        ((waited++))
    done
    echo "$waited"
}

# Resets every TCP connection of the end hosts (the kernel sends RSTs, which also end the
# flows pepsal relays), so no leftover of a capped run competes with the next one: a socket
# curl closed keeps sending what its buffer holds for minutes over a lossy link.
bench_reset_flows() {
    local node
    for node in client server; do tb_exec "$node" ss -K -tn state connected >/dev/null 2>&1; done
    return 0
}

# Waits up to 15 s until pepsal instance NAME relays no flow; returns 1 if some remain.
bench_pep_drained() {
    local name=$1 i
    for ((i = 0; i < 150; i++)); do
        pep_status "$name" 2>/dev/null | grep -q ' active ' || return 0
        sleep 0.1
    done
    return 1
}

# PEP instances of a deployment: none, gateway (pepb), both (pepa and pepb, each a single-box
# PEP), or pairN (pepa and pepb as a pair, N lanes per flow, pepa holding peer=).
bench_deployment_peps() {
    case $1 in
        none) echo "" ;;
        gateway) echo "pepb" ;;
        both | pair[1-9] | pair[1-9][0-9]) echo "pepa pepb" ;;
        *) echo "bench: unknown deployment '$1' (none, gateway, both, pair1..pair32)" >&2; return 1 ;;
    esac
}

# The pair-mode settings of instance NAME in DEPLOYMENT (nothing for the other deployments).
bench_pair_settings() {
    local dep=$1 name=$2 key=$PEP_DIR/pair.key
    [[ $dep == pair* ]] || return 0
    if [[ ! -s $key ]]; then
        head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$key"
        chmod 600 "$key"
    fi
    if [[ $name == pepa ]]; then
        echo "peer=$TB_PEPB_SAT_V4:5001 lanes=${dep#pair} psk-file=$key"
    else
        echo "pair-listen=0.0.0.0:5001 psk-file=$key"
    fi
}

# Starts the deployment's pepsal instances (default configuration: BBR on every socket
# where the kernel has it) with extra key=value settings from BENCH_PEP_ARGS.
# Pair deployments with BENCH_LANE_INITCWND=N: the routes between pepa and pepb get initial
# congestion and receive windows of N segments (README, "Tuning"), so the lanes, which are
# opened before each deployment's runs, start with them. Other deployments keep the defaults.
_bench_lane_routes() {  # DEPLOYMENT up|down
    [[ -n ${BENCH_LANE_INITCWND:-} && $1 == pair* ]] || return 0
    local metrics=()
    [[ $2 == up ]] && metrics=(initcwnd "$BENCH_LANE_INITCWND" initrwnd "$BENCH_LANE_INITCWND")
    ip -n "$(tb_ns pepa)" route change default via "$TB_SAT_PEPA_V4" "${metrics[@]}" &&
        ip -n "$(tb_ns pepb)" route change default via "$TB_SAT_PEPB_V4" "${metrics[@]}"
}

bench_pep_up() {
    local name
    _bench_lane_routes "$1" up || return 1
    for name in $(bench_deployment_peps "$1"); do
        : >"$PEP_DIR/$name.log"  # a fresh log per start: the lane check below reads it
        # Info level: one line per flow end, which the satellite bench keeps per run (a
        # handful of flows per run, so the logging costs nothing measurable).
        # shellcheck disable=SC2046,SC2086 # key=value words
        PEP_VERBOSE=--log-level=info pep_start "$(tb_ns "$name")" "$name" \
            $(bench_pair_settings "$1" "$name") ${BENCH_PEP_ARGS:-} >/dev/null || return 1
    done
    [[ $1 == pair* ]] || return 0
    # The near side's warm lanes need a round trip and a half across the link.
    local i
    for i in $(seq 1 100); do
        grep -q 'lanes to peer .* authenticated' "$PEP_DIR/pepa.log" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench: pair lanes did not come up" >&2
    return 1
}

bench_pep_down() {
    local name
    for name in $(bench_deployment_peps "$1"); do pep_stop "$name" >/dev/null 2>&1; done
    _bench_lane_routes "$1" down
    return 0
}

# Congestion controls of pepsal NAME's established sockets, by peer, e.g.
# "10.1.0.2:bbr 10.4.0.2:cubic" (what `ss -tin` in its namespace shows).
bench_pep_cc() {
    tb_exec "$1" ss -Htin state established | awk '
        /^[0-9]/ || /^\[/ { peer = $NF; sub(/:[0-9]+$/, "", peer); gsub(/[\[\]]/, "", peer); next }
        { for (i = 1; i <= NF; i++) if ($i ~ /^(bbr|cubic|reno|bbr2|htcp|vegas|westwood)$/) print peer ":" $i }' |
        sort -u | tr '\n' ' ' | sed 's/ $//'
}
