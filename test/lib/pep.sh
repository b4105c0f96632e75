# Shared by the integration scripts: run pepsal instances inside test namespaces.
# Needs: BUILD (directory with pepsal), REPO (repository root), PEP_DIR (scratch directory).

# pep_start NODE NAME [key=value ...]: writes a config, starts pepsal in the foreground inside
# namespace NODE, waits until it listens, then installs the firewall rules there.
pep_start() {
    local node=$1 name=$2; shift 2
    local conf=$PEP_DIR/$name.conf port=5000 kv
    {
        echo "shm-name=pepsal-test-$name-$$"
        echo "pid-file=$PEP_DIR/$name.pid"
        for kv in "$@"; do echo "$kv"; done
    } >"$conf"
    for kv in "$@"; do case $kv in port=*) port=${kv#port=} ;; esac; done
    ip netns exec "$node" "$BUILD/pepsal" --config="$conf" ${PEP_VERBOSE--v} >>"$PEP_DIR/$name.log" 2>&1 &
    local pid=$!
    eval "PEP_PID_${name}=$pid PEP_NODE_${name}=$node"
    local i
    for i in $(seq 1 100); do
        if ip netns exec "$node" ss -Hltn "sport = :$port" | grep -q .; then
            ip netns exec "$node" env PEPSAL="$BUILD/pepsal" "$REPO/etc/pepsal-firewall" -f "$conf" up
            return $?
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "pepsal $name did not start; log:" >&2
    tail -20 "$PEP_DIR/$name.log" >&2
    return 1
}

pep_pid() { eval "echo \${PEP_PID_$1:-}"; }
pep_node() { eval "echo \${PEP_NODE_$1:-}"; }

# pep_cmd NAME args...: runs `pepsal --config=<its config> args` in its namespace.
pep_cmd() {
    local name=$1; shift
    ip netns exec "$(pep_node "$name")" "$BUILD/pepsal" --config="$PEP_DIR/$name.conf" "$@"
}

pep_status() { pep_cmd "$1" --status; }

# pep_stop NAME: sends SIGTERM, waits up to 10 s, then removes the rules (in that order: pepsal
# resets its flows through the NAT bindings the rules keep alive); returns pepsal's exit status
# (124 if it had to be killed).
pep_stop() {
    local name=$1 pid node rc i
    pid=$(pep_pid "$name"); node=$(pep_node "$name")
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 200); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null
        rc=124
    else
        wait "$pid" 2>/dev/null
        rc=$?
    fi
    ip netns exec "$node" env PEPSAL="$BUILD/pepsal" "$REPO/etc/pepsal-firewall" -f "$PEP_DIR/$name.conf" down || true
    eval "PEP_PID_${name}="
    return $rc
}

# The worker pids pepsal NAME lists for flows towards destination port PORT.
pep_workers_for_port() {
    pep_status "$1" | awk -v p=":$2" '$1 == "flow" && $3 == "active" && index($6, p) == length($6) - length(p) + 1 { print $8 }'
}

# Counter NAME from the `slots ...` line of --status (e.g. pep_counter pepb missed).
pep_counter() {
    pep_status "$1" | awk -v k="$2" '$1 == "slots" { for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }'
}

# tb_spawn NODE command...: starts the command in the background inside the testbed node; $! is
# the command's own pid (ip netns exec execs it), so the caller can kill it by pid. A shell
# function run with `&` would leave $! naming a subshell instead.
tb_spawn() {
    local node=$1
    shift
    ip netns exec "${TB}$node" "$@" &
}

# The address the flowtool server logging to FILE saw for its most recent connection.
last_peer_addr() { tail -1 "$1" | sed -n 's/.*peer=\(.*\):[0-9]* .*/\1/p' | tr -d '[]'; }
