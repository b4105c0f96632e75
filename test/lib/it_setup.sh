# Sourced first by the integration scripts, the demo and the benchmarks that drive pepsal on
# the lab testbed: repository paths, the build directory, the shared helpers, and the root
# requirement. The build directory is the sourcing script's first argument when it passes
# its own (`. test/lib/it_setup.sh "$@"`), else $BUILD, else build/ (relative paths are taken
# from the repository root); it must exist.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO" || exit 1
BUILD=${1:-${BUILD:-build}}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "$(basename "$0"): no build directory ${1:-${BUILD:-build}}" >&2; exit 1; }
export BUILD
. test/lib/check.sh
. test/lib/pep.sh
. test/lab/testbed.sh
require_root

FT=$BUILD/flowtool
SERVER_PIDS=""  # flowtool servers started by it_start_servers
BG_PIDS=""      # background clients a script started (it adds their PIDs itself)

# it_start_servers ADDR:PORT...: one flowtool server per argument in the server namespace
# ("[V6]:PORT" for IPv6), logging to $PEP_DIR/srv4-PORT.log or srv6-PORT.log, which
# last_peer_addr reads.
it_start_servers() {
    local ep log
    for ep in "$@"; do
        if [[ $ep == \[* ]]; then log=$PEP_DIR/srv6-${ep##*:}.log; else log=$PEP_DIR/srv4-${ep##*:}.log; fi
        tb_spawn server "$FT" serve --listen "$ep" --log "$log" >/dev/null 2>&1
        SERVER_PIDS="$SERVER_PIDS $!"
    done
    sleep 0.3
}

# Stops, by PID, the background clients and servers this script started, and reaps them.
it_stop_background() {
    local p
    for p in $BG_PIDS $SERVER_PIDS; do kill "$p" 2>/dev/null; done
    for p in $BG_PIDS $SERVER_PIDS; do wait "$p" 2>/dev/null; done
}
