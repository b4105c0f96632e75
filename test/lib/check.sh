# Shared by the integration scripts: pass/fail bookkeeping and the root requirement.
# Source it, call `check "what" command...` for each assertion, end with `finish`.

CHECK_PASSED=0
CHECK_FAILED=0
CHECK_FAILURES=""

# Root and namespaces are required; under CI a missing privilege is a failure, not a skip.
require_root() {
    if [ "$(id -u)" != 0 ]; then
        if [ "${CI:-}" = true ]; then
            echo "FAIL: $(basename "$0") needs root (CI=true)" >&2
            exit 1
        fi
        echo "SKIP: $(basename "$0") needs root"
        exit 0
    fi
}

pass() { CHECK_PASSED=$((CHECK_PASSED + 1)); echo "  ok   $1"; }
fail() {
    CHECK_FAILED=$((CHECK_FAILED + 1))
    CHECK_FAILURES="$CHECK_FAILURES
  - $1"
    echo "  FAIL $1" >&2
}

# check "description" command args...: runs the command, records the outcome, shows its output on failure.
# The command runs in this shell (not a subshell), so it may wait for its own background jobs.
check() {
    local what=$1 out rc
    shift
    out=$(mktemp)
    "$@" >"$out" 2>&1
    rc=$?
    if [ "$rc" = 0 ]; then
        pass "$what"
        [ -z "${VERBOSE:-}" ] || cat "$out"
    else
        fail "$what (exit $rc)"
        tail -20 "$out" | sed 's/^/       /' >&2
    fi
    rm -f "$out"
    return "$rc"
}

finish() {
    [ "$CHECK_FAILED" = 0 ] || printf 'failures:%s\n' "$CHECK_FAILURES" >&2
    echo "$(basename "$0" .sh): $CHECK_PASSED passed, $CHECK_FAILED failed"
    [ "$CHECK_FAILED" = 0 ]
}
