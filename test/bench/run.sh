#!/bin/bash
# `make bench`: the forwarding benchmark (pepsal vs. kernel routing on unlimited links), then
# the satellite benchmark (real clients across the emulated link, with and without pepsal).
# Their knobs (REPS, SECS for forwarding.sh; BENCH_* for satellite.sh) pass through the
# environment. Needs root.
#   usage: test/bench/run.sh [BUILD_DIR]
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-${BUILD:-build}}
BUILD=$(cd "$REPO" && cd "$BUILD" 2>/dev/null && pwd) || { echo "bench: no build directory ${1:-build}" >&2; exit 1; }
export BUILD
OUT=${OUT:-$BUILD/bench}
export OUT
rc=0

echo "== forwarding benchmark (test/bench/forwarding.sh)"
"$REPO/test/bench/forwarding.sh" || { rc=1; echo "bench: forwarding.sh failed" >&2; }
echo
echo "== satellite benchmark (test/bench/satellite.sh)"
"$REPO/test/bench/satellite.sh" "$BUILD" || { rc=1; echo "bench: satellite.sh failed" >&2; }

echo
echo "results in $OUT:"
for f in forwarding.md satellite.md satellite.csv satellite-medians.csv satellite.png; do
    [[ -e $OUT/$f ]] && echo "  $OUT/$f"
done
exit $rc
