# Starts and stops nats-server processes with JetStream on loopback for the fleet tests.
# Source it, then call require_nats_server, start_cluster N or start_single CONFIG_EXTRA.
# Every server is killed when the test exits.

require_nats_server() {
    if ! command -v nats-server >/dev/null; then
        echo "SKIP: nats-server is not installed (Debian package nats-server; tools/setup installs it)"
        exit 77
    fi
}

work_dir=$(mktemp -d)
declare -a node_pids=()

cleanup() {
    local pid
    for pid in "${node_pids[@]}" "${extra_pids[@]}"; do
        [[ -n $pid ]] && kill -CONT "$pid" 2>/dev/null
        [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$work_dir"
}
declare -a extra_pids=()
trap cleanup EXIT

# Prints a TCP port on 127.0.0.1 that is free now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until the server with monitoring port $1 reports itself healthy, JetStream included.
# A cluster elects its JetStream leader first, which took over 30 s while the sanitizer
# build's tests loaded the machine, so the wait is up to 120 s.
wait_healthy() {
    local attempt log
    for attempt in $(seq 1 1200); do
        curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return 0
        sleep 0.1
    done
    echo "FAIL: the NATS server with monitoring port $1 did not become healthy in 120 s" >&2
    for log in "$work_dir"/*.log; do
        [[ -f $log ]] && { echo "--- $log" >&2; tail -n 5 "$log" >&2; }
    done
    return 1
}

declare -a client_ports=() monitor_ports=() route_ports=()

# A line added to every node's configuration, such as an include of the users.
node_extra_config=""

# Writes the configuration of node $1 of a cluster of $2 nodes.
write_node_config() {
    local i=$1 count=$2 routes="" j
    for ((j = 0; j < count; j++)); do routes+="nats-route://127.0.0.1:${route_ports[j]}, "; done
    mkdir -p "$work_dir/n$i"
    cat >"$work_dir/n$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:${client_ports[i]}
http: 127.0.0.1:${monitor_ports[i]}
jetstream { store_dir: "$work_dir/n$i" }
cluster {
    name: protowatch-test
    listen: 127.0.0.1:${route_ports[i]}
    routes: [ ${routes%, } ]
}
$node_extra_config
CONF
}

start_node() {
    nats-server -c "$work_dir/n$1.conf" >>"$work_dir/n$1.log" 2>&1 &
    node_pids[$1]=$!
}

stop_node() {
    kill -9 "${node_pids[$1]}" 2>/dev/null
    wait "${node_pids[$1]}" 2>/dev/null
    node_pids[$1]=""
}

# Starts a cluster of $1 nodes and waits until every node is healthy; sets $servers.
start_cluster() {
    local count=$1 i
    for ((i = 0; i < count; i++)); do
        client_ports[i]=$(free_port)
        monitor_ports[i]=$(free_port)
        route_ports[i]=$(free_port)
    done
    servers=""
    for ((i = 0; i < count; i++)); do
        write_node_config "$i" "$count"
        start_node "$i"
        servers+="nats://127.0.0.1:${client_ports[i]},"
    done
    servers=${servers%,}
    for ((i = 0; i < count; i++)); do wait_healthy "${monitor_ports[i]}" || return 1; done
}

# Index of the node named $1 (n0, n1, ...).
node_index() { echo "${1#n}"; }

# Waits until file $1 contains the text $2 (a log line), or fails after about 30 s.
wait_for_line() {
    local attempt
    for attempt in $(seq 1 300); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "FAIL: '$2' never appeared in $1:" >&2
    cat "$1" >&2
    return 1
}
