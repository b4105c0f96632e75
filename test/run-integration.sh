#!/bin/bash
# Runs every test/it_*.sh (root, network namespaces) and prints one summary line.
# usage: test/run-integration.sh [BUILD_DIR] [it_name ...]
set -u
cd "$(dirname "$0")/.."
export BUILD=${1:-build}
shift || true
export BUILD=$(cd "$BUILD" && pwd)
. test/lib/check.sh
require_root

scripts=("$@")
[ ${#scripts[@]} -gt 0 ] || scripts=(test/it_*.sh)
suites_passed=0 suites_failed=0 tests_passed=0 tests_failed=0
for s in "${scripts[@]}"; do
    [ -f "$s" ] || s="test/$s.sh"
    echo "== $s"
    start=$(date +%s)
    log=$(mktemp)
    bash "$s" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    summary=$(grep -E '^[a-z_]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    p=$(printf '%s' "$summary" | sed -n 's/.*: \([0-9]*\) passed.*/\1/p'); p=${p:-0}
    f=$(printf '%s' "$summary" | sed -n 's/.* \([0-9]*\) failed.*/\1/p'); f=${f:-0}
    rm -f "$log"
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
    tests_passed=$((tests_passed + p)); tests_failed=$((tests_failed + f))
    if [ "$rc" = 0 ]; then suites_passed=$((suites_passed + 1)); else suites_failed=$((suites_failed + 1)); fi
    echo "== $s: exit $rc in $(( $(date +%s) - start )) s"
done
echo "integration suites: $suites_passed passed, $suites_failed failed"
echo "integration: $tests_passed passed, $tests_failed failed"
[ "$suites_failed" = 0 ]
