#!/bin/bash
# Satellite benchmark: real clients across the emulated link, without and with pepsal.
# A matrix of profile x loss x deployment x direction x transfer, each point repeated and the
# median kept. Downloads are curl GETs from nginx, uploads curl -T (HTTP PUT) to nginx,
# "stream" is iperf3 (-R for downloads); the end hosts use CUBIC (the testbed sets it),
# pepsal its defaults (BBR where the kernel has it). Prints figures; asserts nothing.
#
# Environment knobs (defaults in brackets):
#   BENCH_PROFILES     testbed profiles, see test/lab/profiles.sh ["geo"]; also leo, terrestrial
#   BENCH_LOSSES       loss probability applied to both directions via LOSS= ["0 0.001 0.01 0.03"]
#   BENCH_DEPLOYMENTS  none (no PEP), gateway (pepsal in pepb), both (pepa and pepb), pairN
#                      (pepa and pepb as a pair, N lanes per flow, 1 to 32)
#                      ["none gateway both pair1 pair2 pair4 pair8 pair32"]; the whole default
#                      matrix takes hours, BENCH_QUICK=1 or a few deployments much less
#   BENCH_DIRECTIONS   ["download upload"]
#   BENCH_SIZES        file sizes (K/M suffixes) and/or "stream" ["100K 10M stream"]
#   BENCH_REPS         runs per point; the median is kept [3]
#   BENCH_STREAM_SECS  iperf3 duration [60]; 20 is enough for a quick look
#   BENCH_MAX_SECS     cap of every curl transfer [60]; a capped run reports the goodput it
#                      achieved (bytes that arrived / time) and capped=1
#   BENCH_RETRIES      extra attempts for a run refused because the emulator fell behind [3]
#   BENCH_QUIET_WAIT   before such an attempt, wait up to this many seconds [30] for a second
#                      in which the machine is less than BENCH_QUIET_BUSY_PCT [50] % busy
#   BENCH_RESUME=1     keep $OUT/satellite.csv and run only the repetitions that have no valid
#                      run in it yet (after an interruption, or to redo refused points later)
#   BENCH_LATE_MS      lateness (ms) past which the emulator counts a packet late, the basis of
#                      its "fell behind" verdict [linkemu's default, 2 ms]
#   BENCH_REPORT_ONLY=1  measure nothing: rebuild medians, table and plot from $OUT/satellite.csv
#   BENCH_PEP_ARGS     extra pepsal settings, key=value ... (e.g. "client-sndbuf=8m") []
#   BENCH_LANE_INITCWND  pair deployments: initcwnd/initrwnd N on the routes between pepa and
#                      pepb (README, "Tuning") []
#   BENCH_QUICK=1      quick mode: BENCH_REPS=1, BENCH_STREAM_SECS=20, BENCH_SIZES="100K stream"
#                      (knobs set explicitly still win)
#   OUT                output directory [$BUILD/bench]
#
# Every run restarts the emulator (same profile and loss, in place; repetition N draws its
# losses from seed N), so its "fell behind" verdict (testbed_emu_check) covers that run
# alone; a run where it fell behind is kept in the CSV with valid=0, left out of medians and
# plot, and retried. Seeds make deployments comparable on the same losses, and also make a
# repetition's loss pattern fixed: at 1 % loss seed 1 drops one of the first packets after
# the restart, so repetition 1 of a 1 KB transfer always takes a round trip more. The emulator's own CPU time
# per run is reported as a share of one core.
#
# Output in $OUT:
#   satellite.csv          one row per run
#   satellite-medians.csv  one row per point (the median run: by goodput for stream, by
#                          completion time for files), with the link capacity and its share
#   satellite.md           the table, per profile and loss
#   satellite.png          stream goodput vs loss, one line per deployment, download and upload
#   satellite-logs/        iperf3 output, `ss -tin` samples of the PEPs during streams and the
#                          emulator's counters per run (*-emu.txt: random and queue drops),
#                          each PEP's log lines of the run (*-NAME.log: flow ends, pair waits)
#
#   usage: test/bench/satellite.sh [BUILD_DIR]
set -u
. "$(dirname "$0")/../lib/it_setup.sh" "$@"
. test/lab/nginx.sh
. test/bench/lib.sh

if [[ ${BENCH_QUICK:-0} == 1 ]]; then
    : "${BENCH_REPS:=1}" "${BENCH_STREAM_SECS:=20}" "${BENCH_SIZES:=100K stream}"
fi
BENCH_PROFILES=${BENCH_PROFILES:-geo}
BENCH_LOSSES=${BENCH_LOSSES:-0 0.001 0.01 0.03}
BENCH_DEPLOYMENTS=${BENCH_DEPLOYMENTS:-none gateway both pair1 pair2 pair4 pair8 pair32}
BENCH_DIRECTIONS=${BENCH_DIRECTIONS:-download upload}
BENCH_SIZES=${BENCH_SIZES:-100K 10M stream}
BENCH_REPS=${BENCH_REPS:-3}
BENCH_STREAM_SECS=${BENCH_STREAM_SECS:-60}
BENCH_MAX_SECS=${BENCH_MAX_SECS:-60}
BENCH_RETRIES=${BENCH_RETRIES:-3}
BENCH_QUIET_WAIT=${BENCH_QUIET_WAIT:-30}
BENCH_QUIET_BUSY_PCT=${BENCH_QUIET_BUSY_PCT:-50}
BENCH_RESUME=${BENCH_RESUME:-0}
BENCH_LATE_MS=${BENCH_LATE_MS:-}
BENCH_REPORT_ONLY=${BENCH_REPORT_ONLY:-0}
EMU_ARGS=()
[[ -n $BENCH_LATE_MS ]] && EMU_ARGS=(--late-threshold-ms "$BENCH_LATE_MS")
OUT=${OUT:-$BUILD/bench}
CSV=$OUT/satellite.csv
LOGS=$OUT/satellite-logs
WORK=$(mktemp -d /tmp/pepsal-bench-sat.XXXXXX)
PEP_DIR=$WORK/pep
CSV_HEADER="profile,loss,deployment,direction,transfer,rep,attempt,valid,capped,bytes,secs,goodput_mbit,steady_mbit,ttfb_s,emu_cpu_pct,pep_cc,note"

for d in $BENCH_DEPLOYMENTS; do bench_deployment_peps "$d" >/dev/null || exit 2; done
for p in $BENCH_PROFILES; do
    [[ $p != none ]] || { echo "satellite: profile none has no link to measure" >&2; exit 2; }
    tb_profile_args "$p" || exit 2
done

CURRENT_DEPLOYMENT=
cleanup() {
    [[ -n ${BENCH_IPERF_CLIENT_PID:-} ]] && kill "$BENCH_IPERF_CLIENT_PID" 2>/dev/null
    [[ -n ${BENCH_IPERF_SERVER_PID:-} ]] && kill "$BENCH_IPERF_SERVER_PID" 2>/dev/null
    [[ -n $CURRENT_DEPLOYMENT ]] && bench_pep_down "$CURRENT_DEPLOYMENT"
    nginx_stop
    testbed_down
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "satellite: interrupted" >&2; exit 130' INT TERM

# One stream run; sets RUN (key=value line) and RUN_CC (the PEPs' congestion controls,
# sampled halfway through, when the flows are in full swing).
measure_stream() {
    local dir=$1 deployment=$2 log=$3 name cc=""
    bench_iperf_start client server "$TB_SERVER_V4" "$BENCH_STREAM_SECS" "$dir" "$log"
    sleep $((BENCH_STREAM_SECS / 2))
    for name in $(bench_deployment_peps "$deployment"); do
        tb_exec "$name" ss -tin state established >>"${log%.txt}-ss-$name.txt" 2>&1
        cc="$cc$name=$(bench_pep_cc "$name" | tr ' ' '/');"
    done
    bench_iperf_finish "$BENCH_STREAM_SECS" "$dir" "$log"
    RUN=$BENCH_IPERF_RESULT
    RUN_CC=${cc%;}
}

# One file transfer of SIZE; sets RUN.
measure_file() {
    local dir=$1 size=$2 tag=$3
    if [[ $dir == download ]]; then
        RUN=$(bench_http_get client "http://$TB_SERVER_V4/files/$size.bin" "$BENCH_MAX_SECS")
    else
        RUN=$(bench_http_put client "$WORK/client/$size.bin" "http://$TB_SERVER_V4/upload/$tag.bin" \
            "$BENCH_MAX_SECS" server)
        rm -f "$WORK/nginx/www/upload/$tag.bin"
    fi
    RUN_CC=
}

# A finished run's verdict: "" if valid, else why not.
run_problem() {
    local transfer=$1 rc code
    rc=$(bench_field "$RUN" rc) code=$(bench_field "$RUN" code)
    if ! testbed_emu_check 2>"$WORK/emu.txt"; then
        echo "refused: emulator fell behind ($(sed -n 's/.*dir=\([a-z]*\): emulator fell behind: \([0-9]*\) packets late by >\([0-9.]*\) ms, max lateness \([0-9.]*\) ms.*/\1: \2 packets late by >\3 ms (max \4 ms)/p' \
            "$WORK/emu.txt" | paste -sd';' | sed 's/;/; /g'))"
    elif [[ $transfer == stream && $rc != 0 ]]; then
        echo "error: iperf3 exit $rc"
    elif [[ $transfer != stream && $rc != 0 && $rc != 28 ]]; then
        echo "error: curl exit $rc"
    elif [[ $transfer != stream && $code != 2* && $rc == 0 ]]; then
        echo "error: HTTP $code"
    fi
}

# run_once PROFILE LOSS DEPLOYMENT DIRECTION TRANSFER REP ATTEMPT: one measured run, appended
# to the CSV and printed; returns 1 if the emulator fell behind (worth another attempt).
run_once() {
    local profile=$1 loss=$2 dep=$3 dir=$4 transfer=$5 rep=$6 attempt=$7
    local tag="$profile-$loss-$dep-$dir-$transfer-$rep-$attempt" j0 t0 cpu problem valid=1
    # Repetition N draws its losses from seed N: repetitions differ, deployments compare
    # on the same loss pattern.
    LOSS=$loss SEED=$rep testbed_profile "$profile" "${EMU_ARGS[@]}" || exit 1
    local -A log_lines=()
    local name
    for name in $(bench_deployment_peps "$dep"); do
        log_lines[$name]=$(wc -l <"$PEP_DIR/$name.log" 2>/dev/null || echo 0)
    done
    j0=$(bench_emu_jiffies) t0=$(bench_now)
    if [[ $transfer == stream ]]; then
        measure_stream "$dir" "$dep" "$LOGS/$tag.txt"
    else
        measure_file "$dir" "$transfer" "$tag"
    fi
    cpu=$(bench_cpu_pct $(($(bench_emu_jiffies) - j0)) "$(awk -v a="$t0" -v b="$(bench_now)" 'BEGIN { print b - a }')")
    testbed_emu_stats >"$LOGS/$tag-emu.txt" 2>&1  # random vs queue drops, for the logs
    problem=$(run_problem "$transfer")
    [[ -z $problem ]] || valid=0
    bench_reset_flows
    for name in $(bench_deployment_peps "$dep"); do
        bench_pep_drained "$name" || echo "  warning: pepsal $name still relays flows after the run" >&2
        # This run's part of the PEP's log (flow ends, with the pair engine's wait figures).
        tail -n +"$((${log_lines[$name]:-0} + 1))" "$PEP_DIR/$name.log" >"$LOGS/$tag-$name.log" 2>/dev/null
    done
    # curl's time_starttransfer means "first response byte" for a download only.
    local ttfb=""
    [[ $transfer == stream || $dir == upload ]] || ttfb=$(bench_field "$RUN" ttfb)
    local fig k
    fig=$(for k in capped bytes secs mbit steady; do printf '%s,' "$(bench_field "$RUN" "$k")"; done)
    echo "$profile,$loss,$dep,$dir,$transfer,$rep,$attempt,$valid,$fig$ttfb,$cpu,$RUN_CC,$problem" >>"$CSV"
    report_run_line "$profile" "$loss" "$dep" "$dir" "$transfer" "$rep" "$RUN" "$cpu" "$RUN_CC" "$problem"
    [[ $problem != refused* ]]
}

# Runs of one point and repetition already in the CSV: "VALID_RUNS ALL_RUNS".
runs_in_csv() {  # PROFILE LOSS DEP DIR TRANSFER REP
    awk -F, -v k="$1,$2,$3,$4,$5,$6," 'index($0, k) == 1 { all++; if ($8 == 1) valid++ }
        END { print valid + 0, all + 0 }' "$CSV"
}

# All repetitions of one point, each retried while the emulator falls behind, after waiting
# (up to BENCH_QUIET_WAIT s) for the machine to be less busy. With BENCH_RESUME=1 a
# repetition that already has a valid run in the CSV is skipped.
run_point() {
    local rep attempt waited valid=0 prior=0
    for ((rep = 1; rep <= BENCH_REPS; rep++)); do
        [[ $BENCH_RESUME == 1 ]] && read -r valid prior < <(runs_in_csv "$@" "$rep")
        ((valid)) && continue
        for ((attempt = prior + 1; attempt <= prior + 1 + BENCH_RETRIES; attempt++)); do
            if ((attempt > prior + 1)); then
                waited=$(bench_wait_quiet "$BENCH_QUIET_WAIT" "$BENCH_QUIET_BUSY_PCT")
                ((waited)) && echo "  (waited $waited s for the machine to calm down)"
            fi
            run_once "$@" "$rep" "$attempt" && break
        done
    done
}

# Files served for downloads and sent for uploads, one per size.
make_files() {
    local t
    mkdir -p "$WORK/client"
    for t in $BENCH_SIZES; do
        [[ $t == stream ]] && continue
        nginx_make_file "$WORK/nginx" "$t.bin" "$t"
        cp "$WORK/nginx/www/files/$t.bin" "$WORK/client/$t.bin"
    done
}

# --- reporting --------------------------------------------------------------------------------

report_run_line() {  # PROFILE LOSS DEP DIR TRANSFER REP RUN CPU CC PROBLEM
    local run=$7 what
    if [[ -n ${10} ]]; then
        what=${10}
    elif [[ $5 == stream ]]; then
        what=$(printf '%8.2f Mbit/s (2nd half %s)' "$(bench_field "$run" mbit)" "$(bench_field "$run" steady)")
    else
        what=$(printf '%7.2f s %8.2f Mbit/s' "$(bench_field "$run" secs)" "$(bench_field "$run" mbit)")
        [[ $4 == download ]] && what="$what $(printf 'ttfb %5.2f s' "$(bench_field "$run" ttfb)")"
        [[ $(bench_field "$run" capped) == 1 ]] && what="$what capped"
    fi
    printf '  %-5s loss %-6s %-8s %-9s %-6s #%s: %s  emu %s %%%s\n' "$1" "$2" "$3" "$4" "$5" "$6" \
        "$what" "$8" "${9:+  cc $9}"
}

# The median valid run of one point from the runs CSV (by goodput for a stream, by completion
# time for a file: a capped run counts as the slowest), or nothing.
median_run() {  # CSV PROFILE LOSS DEP DIR TRANSFER
    local key="$2,$3,$4,$5,$6," col=11
    [[ $6 == stream ]] && col=12
    grep -F "$key" "$1" | awk -F, -v k="$key" 'index($0, k) == 1 && $8 == 1' |
        sort -t, -k"$col","$col" -g | awk '{ r[NR] = $0 } END { if (NR) print r[int((NR + 1) / 2)] }'
}

# Writes the medians CSV: one row per point, with the link capacity and the share of it.
report_medians() {  # RUNS_CSV MEDIANS_CSV
    local runs=$1 out=$2 profile loss dep dir t row cap valid all
    echo "profile,loss,deployment,direction,transfer,valid_runs,runs,capped,bytes,secs,goodput_mbit,steady_mbit,ttfb_s,emu_cpu_pct,capacity_mbit,share_pct,pep_cc,note" >"$out"
    for profile in $BENCH_PROFILES; do for loss in $BENCH_LOSSES; do for dep in $BENCH_DEPLOYMENTS; do
        for dir in $BENCH_DIRECTIONS; do for t in $BENCH_SIZES; do
            cap=$(bench_capacity_mbit "$profile" "$dir")
            all=$(grep -c -F "$profile,$loss,$dep,$dir,$t," "$runs")
            valid=$(grep -F "$profile,$loss,$dep,$dir,$t," "$runs" | awk -F, '$8 == 1' | wc -l)
            row=$(median_run "$runs" "$profile" "$loss" "$dep" "$dir" "$t")
            if [[ -z $row ]]; then
                local why
                why=$(grep -F "$profile,$loss,$dep,$dir,$t," "$runs" | tail -1 | cut -d, -f17 | sed 's/ (.*//')
                echo "$profile,$loss,$dep,$dir,$t,0,$all,,,,,,,,$cap,,,${why:-no run}" >>"$out"
                continue
            fi
            awk -F, -v OFS=, -v cap="$cap" -v valid="$valid" -v all="$all" '{
                share = (cap > 0 && $12 != "nan") ? sprintf("%.1f", 100 * $12 / cap) : ""
                print $1, $2, $3, $4, $5, valid, all, $9, $10, $11, $12, $13, $14, $15, cap, share, $16, "" }' <<<"$row" >>"$out"
        done; done
    done; done; done
}

# Field NAME of the medians row of one point (empty when absent).
med() {  # MEDIANS PROFILE LOSS DEP DIR TRANSFER NAME
    awk -F, -v k="$2,$3,$4,$5,$6" -v name="$7" '
        NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        $1 "," $2 "," $3 "," $4 "," $5 == k { print $c[name] }' "$1"
}

# The table cell of one file transfer: completion time, "≥ N s (capped, X Mbit/s)", or why
# no valid run exists.
file_cell() {  # MEDIANS PROFILE LOSS DEP DIR SIZE
    local secs
    secs=$(med "$@" secs)
    if [[ -z $secs ]]; then
        med "$@" note
    elif [[ $(med "$@" capped) == 1 ]]; then
        printf '≥ %.0f (capped, %.2f Mbit/s)' "$secs" "$(med "$@" goodput_mbit)"
    else
        printf '%.2f' "$secs"
    fi
}

table_header() {
    local t h="| deployment | direction |" sep="|---|---|"
    for t in $BENCH_SIZES; do
        if [[ $t == stream ]]; then
            h="$h stream Mbit/s | share of link | 2nd half Mbit/s |"; sep="$sep---:|---:|---:|"
        else
            h="$h $t s | $t TTFB s |"; sep="$sep---:|---:|"
        fi
    done
    echo "$h emulator CPU % |"
    echo "$sep---:|"
}

table_row() {  # MEDIANS PROFILE LOSS DEP DIR
    local t row="| $4 | $5 |" g ttfb cpu=""
    for t in $BENCH_SIZES; do
        if [[ $t == stream ]]; then
            g=$(med "$@" stream goodput_mbit)
            if [[ -z $g ]]; then row="$row $(med "$@" stream note) | | |"; continue; fi
            row="$row $(printf '%.2f' "$g") | $(med "$@" stream share_pct) % | $(printf '%.2f' "$(med "$@" stream steady_mbit)") |"
        else
            ttfb=""
            [[ $5 == download ]] && ttfb=$(med "$@" "$t" ttfb_s)
            row="$row $(file_cell "$@" "$t") | ${ttfb:+$(printf '%.2f' "$ttfb")} |"
        fi
        cpu="$cpu $(med "$@" "$t" emu_cpu_pct)"
    done
    # shellcheck disable=SC2086 # one figure per transfer
    echo "$row $(printf '%s\n' $cpu | sort -g | tail -1) |"
}

report_markdown() {  # MEDIANS
    local profile loss dep dir
    echo "# Satellite benchmark: pepsal vs. end-to-end CUBIC"
    echo
    echo "Median of $BENCH_REPS run(s) per point (runs where the emulator fell behind excluded;" \
        "a packet counts as late ${BENCH_LATE_MS:-2} ms after its due time);" \
        "files capped at $BENCH_MAX_SECS s; iperf3 streams of $BENCH_STREAM_SECS s (\"2nd half\": receiver" \
        "rate after the ramp-up). Deployments: none = end to end, gateway = pepsal in pepb," \
        "both = pepsal in pepa and pepb, pairN = pepa and pepb as a pair, N lanes per flow. Emulator CPU: % of one core, the busiest transfer's median run."
    for profile in $BENCH_PROFILES; do for loss in $BENCH_LOSSES; do
        echo
        echo "## $profile ($(bench_profile_summary "$profile")), random loss $(awk -v l="$loss" 'BEGIN { printf "%g", l * 100 }') % each way"
        echo
        table_header
        for dep in $BENCH_DEPLOYMENTS; do for dir in $BENCH_DIRECTIONS; do
            table_row "$1" "$profile" "$loss" "$dep" "$dir"
        done; done
    done; done
}

# Stream goodput vs loss, one line per deployment, one panel per profile and direction.
report_plot() {  # MEDIANS PNG
    [[ " $BENCH_SIZES " == *" stream "* ]] || { echo "satellite: no stream runs to plot" >&2; return 1; }
    local dir_data=$WORK/plot profile dir loss dep g line vars=""
    mkdir -p "$dir_data"
    for profile in $BENCH_PROFILES; do for dir in $BENCH_DIRECTIONS; do
        echo "loss_pct $BENCH_DEPLOYMENTS" >"$dir_data/$profile-$dir.dat"
        for loss in $BENCH_LOSSES; do
            line=$(awk -v l="$loss" 'BEGIN { printf "%g", l * 100 }')
            for dep in $BENCH_DEPLOYMENTS; do
                g=$(med "$1" "$profile" "$loss" "$dep" "$dir" stream goodput_mbit)
                line="$line ${g:-?}"
            done
            echo "$line" >>"$dir_data/$profile-$dir.dat"
        done
        vars="$vars cap_${profile}_$dir=$(bench_capacity_mbit "$profile" "$dir");"
    done; done
    gnuplot -e "outfile='$2'; datadir='$dir_data'; profiles='$BENCH_PROFILES';" \
        -e "directions='$BENCH_DIRECTIONS'; ndeps=$(wc -w <<<"$BENCH_DEPLOYMENTS");$vars" \
        test/bench/plot.gp
}

# The whole matrix, each deployment's pepsal instances up only during its points.
measure_all() {
    local first profile loss dep dir t
    first=${BENCH_PROFILES%% *}
    echo "satellite: building the lab (namespaces ${TB}*), results in $OUT"
    testbed_up "$first" >/dev/null || exit 1
    make_files
    nginx_start server "$WORK/nginx" || exit 1
    for profile in $BENCH_PROFILES; do
        for loss in $BENCH_LOSSES; do
            for dep in $BENCH_DEPLOYMENTS; do
                bench_pep_up "$dep" || exit 1
                CURRENT_DEPLOYMENT=$dep
                for dir in $BENCH_DIRECTIONS; do
                    for t in $BENCH_SIZES; do run_point "$profile" "$loss" "$dep" "$dir" "$t"; done
                done
                bench_pep_down "$dep"
                CURRENT_DEPLOYMENT=
            done
        done
    done
}

main() {
    mkdir -p "$OUT" "$LOGS" "$PEP_DIR"
    if [[ $BENCH_REPORT_ONLY != 1 ]]; then
        if [[ $BENCH_RESUME != 1 || ! -s $CSV ]]; then
            rm -f "$LOGS"/*.txt
            echo "$CSV_HEADER" >"$CSV"
        fi
        measure_all
    fi
    report_medians "$CSV" "$OUT/satellite-medians.csv"
    report_markdown "$OUT/satellite-medians.csv" | tee "$OUT/satellite.md"
    report_plot "$OUT/satellite-medians.csv" "$OUT/satellite.png" || echo "satellite: no plot" >&2
    echo "satellite: $(awk -F, 'NR > 1 && $8 == 0' "$CSV" | wc -l) run(s) refused or failed (valid=0 in $CSV)"
}

main
