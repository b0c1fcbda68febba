#!/usr/bin/env bash
# Benchmark latticed side by side with InspIRCd 3 and ngIRCd on this machine, loopback only.
#
# For every scenario and repeat, each server is started fresh from a config generated into a
# temporary directory (templates in peers/, flood limits relaxed), measured with latticed-loadgen,
# and stopped. The raw JSON lines and a markdown table of medians (min–max, ratio latticed/peer)
# go to results/<date>.{jsonl,md}; the table is also printed. Nothing is committed.
#
# Usage: loadgen/bench/compare.sh [options]
#   --latticed PATH     latticed binary (default: build it with cargo build --release)
#   --loadgen PATH      latticed-loadgen binary (default: build it likewise)
#   --repeats N         runs per scenario and server (default 3; env REPEATS)
#   --servers LIST      space-separated subset of "latticed inspircd ngircd" (env SERVERS)
#   --scenarios LIST    space-separated subset of "fanout channels connect cross" (env SCENARIOS)
#   --out DIR           where results go (default loadgen/bench/results)
#   -h, --help          this text
#
# Scenario sizes (environment, defaults in brackets):
#   FANOUT_CLIENTS [200] FANOUT_SENDERS [5] FANOUT_MESSAGES [200] FANOUT_RATE [burst]
#   CHANNELS_CLIENTS [1000] CHANNELS_CHANNELS [100] CHANNELS_PER_CLIENT [3] CHANNELS_RATE [1]
#   CHANNELS_DURATION [20]
#   CONNECT_CLIENTS [2000] CONNECT_CONCURRENCY [50]
#   CROSS_CLIENTS_PER_NODE [100] CROSS_SENDERS [2] CROSS_MESSAGES [200] CROSS_RATE [burst]
#   SETUP_CONCURRENCY [50]: clients setting up at once in fanout, channels and cross (setup is not
#   measured; above about 100, ngIRCd leaves connections unaccepted in its listen backlog)
# cross runs on three linked nodes for latticed (a QUIC cluster) and InspIRCd (m_spanningtree,
# a hub and two leaves), two for ngIRCd; the sender is on the first node, receivers on all.
# Other environment: PORT_BASE [17100] (ports PORT_BASE+1 .. +12 and admin/cluster ports up to
# +63 are used), RUN_TIMEOUT [180]
# (loadgen --timeout per run), INSPIRCD [/usr/sbin/inspircd], NGIRCD [/usr/sbin/ngircd],
# KEEP_WORK=1 keeps the temporary directory (configs and server logs) for inspection.
# PEER_NODELAY=1 gives the peers' client sockets TCP_NODELAY, as latticed's have (peers/nodelay.c,
# built with cc and preloaded): InspIRCd leaves Nagle on, which saves it CPU and costs it latency,
# so this compares CPU at equal latency.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PEERS="$HERE/peers"

LATTICED=""
LOADGEN=""
REPEATS=${REPEATS:-3}
SERVERS=${SERVERS:-"latticed inspircd ngircd"}
SCENARIOS=${SCENARIOS:-"fanout channels connect cross"}
OUT_DIR="$HERE/results"
INSPIRCD=${INSPIRCD:-/usr/sbin/inspircd}
NGIRCD=${NGIRCD:-/usr/sbin/ngircd}
PORT_BASE=${PORT_BASE:-17100}
PEER_NODELAY=${PEER_NODELAY:-0}
RUN_TIMEOUT=${RUN_TIMEOUT:-180}

FANOUT_CLIENTS=${FANOUT_CLIENTS:-200}
FANOUT_SENDERS=${FANOUT_SENDERS:-5}
FANOUT_MESSAGES=${FANOUT_MESSAGES:-200}
FANOUT_RATE=${FANOUT_RATE:-}
CHANNELS_CLIENTS=${CHANNELS_CLIENTS:-1000}
CHANNELS_CHANNELS=${CHANNELS_CHANNELS:-100}
CHANNELS_PER_CLIENT=${CHANNELS_PER_CLIENT:-3}
CHANNELS_RATE=${CHANNELS_RATE:-1}
CHANNELS_DURATION=${CHANNELS_DURATION:-20}
CONNECT_CLIENTS=${CONNECT_CLIENTS:-2000}
CONNECT_CONCURRENCY=${CONNECT_CONCURRENCY:-50}
CROSS_CLIENTS_PER_NODE=${CROSS_CLIENTS_PER_NODE:-100}
CROSS_SENDERS=${CROSS_SENDERS:-2}
CROSS_MESSAGES=${CROSS_MESSAGES:-200}
CROSS_RATE=${CROSS_RATE:-}
SETUP_CONCURRENCY=${SETUP_CONCURRENCY:-50}

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --latticed) LATTICED=$2; shift 2 ;;
        --loadgen) LOADGEN=$2; shift 2 ;;
        --repeats) REPEATS=$2; shift 2 ;;
        --servers) SERVERS=$2; shift 2 ;;
        --scenarios) SCENARIOS=$2; shift 2 ;;
        --out) OUT_DIR=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

log() { echo "compare.sh: $*" >&2; }

if ! [[ $REPEATS =~ ^[1-9][0-9]*$ ]]; then
    log "--repeats must be a positive integer"; exit 2
fi

if [[ -z $LATTICED || -z $LOADGEN ]]; then
    log "building latticed and latticed-loadgen (release)"
    (cd "$REPO" && cargo build --release -p latticed -p latticed-loadgen)
    target=${CARGO_TARGET_DIR:-$REPO/target}
    LATTICED=${LATTICED:-$target/release/latticed}
    LOADGEN=${LOADGEN:-$target/release/latticed-loadgen}
fi
for binary in "$LATTICED" "$LOADGEN"; do
    [[ -x $binary ]] || { log "$binary is not an executable"; exit 1; }
done

# Thousands of client sockets on both ends.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
log "open file limit: $(ulimit -n)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/latticed-bench.XXXXXX")
declare -a PIDS=()
# Prefix of the peers' command lines: nothing, or the TCP_NODELAY preload (PEER_NODELAY=1).
declare -a PEER_ENV=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ ${KEEP_WORK:-0} == 1 ]]; then
        log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ $PEER_NODELAY == 1 ]]; then
    if ! cc -shared -fPIC -O2 -o "$WORK/nodelay.so" "$PEERS/nodelay.c" -ldl; then
        log "PEER_NODELAY=1 needs a C compiler (cc) to build $PEERS/nodelay.c"; exit 1
    fi
    PEER_ENV=(env "LD_PRELOAD=$WORK/nodelay.so")
fi

# fill TEMPLATE KEY=VALUE...: print TEMPLATE with every @KEY@ replaced.
fill() {
    local template=$1 pair script=()
    shift
    for pair in "$@"; do
        script+=(-e "s|@${pair%%=*}@|${pair#*=}|g")
    done
    sed "${script[@]}" "$template"
}

# wait_port PORT: until something accepts on 127.0.0.1:PORT (at most 10 s).
wait_port() {
    local i
    for i in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    log "nothing listens on 127.0.0.1:$1 after 10 s"
    return 1
}

# Each start_* function starts one server in the background, records its PID in PIDS and in
# SERVER_PID, and returns once its client port accepts connections.
# start_latticed PORT [ID CLUSTER_PORT [PEER_ID PEER_CLUSTER_PORT]...]: with an ID, node ID of a
# cluster (certificates in $WORK/pki, made by make_cluster_pki) linked with every listed peer.
start_latticed() {
    launch_latticed "$@"
    wait_port "$1"
}

# launch_latticed: start_latticed without waiting for the port. The nodes of a fresh cluster are
# launched together, as an operator would: a node with an empty log first asks its peers which
# epochs it used (up to 10 s), so waiting for each node before starting the next would stall.
launch_latticed() {
    local port=$1 dir="$WORK/latticed-$1" id=1
    mkdir -p "$dir"
    shift
    [[ $# -gt 0 ]] && id=$1
    {
        fill "$PEERS/latticed.toml.in" PORT="$port" ADMIN_PORT="$((port + 50))" DIR="$dir" \
            ID="$id" NAME="$(latticed_name "$id")"
        if [[ $# -gt 0 ]]; then
            fill "$PEERS/latticed-cluster.toml.in" CLUSTER_PORT="$2" PKI="$WORK/pki" NAME="$(latticed_name "$id")"
            shift 2
            while [[ $# -gt 1 ]]; do
                fill "$PEERS/latticed-peer.toml.in" PEER_ID="$1" PEER_NAME="$(latticed_name "$1")" PEER_CLUSTER_PORT="$2"
                shift 2
            done
        fi
    } > "$dir/latticed.toml"
    RUST_LOG=${LATTICED_LOG:-warn} "$LATTICED" run --config "$dir/latticed.toml" > "$dir/latticed.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}

# latticed_name ID: the server name of latticed node ID.
latticed_name() { echo "latticed$1.loadgen.local"; }

# make_cluster_pki COUNT: a cluster CA and certificates for latticed nodes 1..COUNT in $WORK/pki.
make_cluster_pki() {
    local id
    [[ -f $WORK/pki/ca.pem ]] || "$LATTICED" cluster-ca --out "$WORK/pki" > /dev/null
    for id in $(seq "$1"); do
        [[ -f $WORK/pki/$(latticed_name "$id").pem ]] ||
            "$LATTICED" node-cert --ca "$WORK/pki" --name "$(latticed_name "$id")" --out "$WORK/pki" > /dev/null
    done
}

# wait_cluster ADMIN_PORT PEERS TIMEOUT_SECS: until latticed's /metrics on ADMIN_PORT reports
# PEERS cluster peers up.
wait_cluster() {
    local i
    for i in $(seq "$(($3 * 10))"); do
        if python3 - "$1" "$2" <<'PY'
import sys, urllib.request
page = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=1).read().decode()
up = [l.split()[-1] for l in page.splitlines() if l.startswith("latticed_cluster_peers_up ")]
sys.exit(0 if up and float(up[0]) >= float(sys.argv[2]) else 1)
PY
        then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# start_inspircd NAME SID PORT [LINK_PORT AUTOCONNECT_TO [PEER_NAME PEER_LINK_PORT]...]: with a
# LINK_PORT, the server links with every listed peer and, unless AUTOCONNECT_TO is "-", connects
# to that one itself (only one side of each link connects, so the two do not race).
start_inspircd() {
    local name=$1 sid=$2 port=$3 dir="$WORK/inspircd-$3" root=()
    mkdir -p "$dir"
    shift 3
    {
        fill "$PEERS/inspircd.conf.in" NAME="$name" SID="$sid" PORT="$port" DIR="$dir"
        if [[ $# -gt 0 ]]; then
            fill "$PEERS/inspircd-link.conf.in" LINK_PORT="$1"
            local autoconnect=$2
            shift 2
            while [[ $# -gt 1 ]]; do
                fill "$PEERS/inspircd-peer.conf.in" PEER_NAME="$1" PEER_LINK_PORT="$2"
                shift 2
            done
            if [[ $autoconnect != - ]]; then
                fill "$PEERS/inspircd-autoconnect.conf.in" PEER_NAME="$autoconnect"
            fi
        fi
    } > "$dir/inspircd.conf"
    [[ $EUID -eq 0 ]] && root=(--runasroot)
    "${PEER_ENV[@]}" "$INSPIRCD" --nofork --nopid "${root[@]}" --config "$dir/inspircd.conf" > "$dir/stdout.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_port "$port"
}

# start_ngircd NAME PORT [PEER_NAME PEER_PORT PASSIVE(yes|no)]
start_ngircd() {
    local name=$1 port=$2 dir="$WORK/ngircd-$2"
    mkdir -p "$dir/ngircd.conf.d"
    {
        fill "$PEERS/ngircd.conf.in" NAME="$name" PORT="$port" DIR="$dir"
        if [[ $# -gt 2 ]]; then
            fill "$PEERS/ngircd-link.conf.in" PEER_NAME="$3" PEER_PORT="$4" PASSIVE="$5"
        fi
    } > "$dir/ngircd.conf"
    "${PEER_ENV[@]}" "$NGIRCD" --nodaemon --config "$dir/ngircd.conf" > "$dir/ngircd.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_port "$port"
}

stop_servers() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}

available() {
    case $1 in
        latticed) return 0 ;;
        inspircd) [[ -x $INSPIRCD ]] ;;
        ngircd) [[ -x $NGIRCD ]] ;;
        *) return 1 ;;
    esac
}

COMMON=(--timeout "$RUN_TIMEOUT" --nick-prefix lg)

# scenario_args SCENARIO: the scenario's size flags.
scenario_args() {
    case $1 in
        fanout)
            ARGS=(--clients "$FANOUT_CLIENTS" --senders "$FANOUT_SENDERS" --messages "$FANOUT_MESSAGES"
                --setup-concurrency "$SETUP_CONCURRENCY")
            [[ -n $FANOUT_RATE ]] && ARGS+=(--rate "$FANOUT_RATE")
            ;;
        channels)
            ARGS=(--clients "$CHANNELS_CLIENTS" --channels "$CHANNELS_CHANNELS"
                --per-client "$CHANNELS_PER_CLIENT" --rate "$CHANNELS_RATE"
                --duration "$CHANNELS_DURATION" --setup-concurrency "$SETUP_CONCURRENCY")
            ;;
        connect)
            ARGS=(--clients "$CONNECT_CLIENTS" --concurrency "$CONNECT_CONCURRENCY")
            ;;
        cross)
            ARGS=(--clients-per-node "$CROSS_CLIENTS_PER_NODE" --senders "$CROSS_SENDERS"
                --messages "$CROSS_MESSAGES" --setup-concurrency "$SETUP_CONCURRENCY")
            [[ -n $CROSS_RATE ]] && ARGS+=(--rate "$CROSS_RATE")
            ;;
    esac
    return 0
}

# run_one SERVER SCENARIO REPEAT: start the server(s), measure, stop; append one JSON record.
run_one() {
    local server=$1 scenario=$2 repeat=$3 target=() pid line status=0
    scenario_args "$scenario"
    if [[ $scenario == cross ]]; then
        local p1=$((PORT_BASE + 5)) p2=$((PORT_BASE + 7)) p3=$((PORT_BASE + 9)) linked=2 receivers
        receivers="127.0.0.1:$p2,127.0.0.1:$p3"
        case $server in
            latticed)
                make_cluster_pki 3
                launch_latticed "$p1" 1 "$((p1 + 60))" 2 "$((p2 + 60))" 3 "$((p3 + 60))"
                launch_latticed "$p2" 2 "$((p2 + 60))" 1 "$((p1 + 60))" 3 "$((p3 + 60))"
                launch_latticed "$p3" 3 "$((p3 + 60))" 1 "$((p1 + 60))" 2 "$((p2 + 60))"
                wait_port "$p1" && wait_port "$p2" && wait_port "$p3" || status=1
                ;;
            inspircd)
                start_inspircd inspa.loadgen.local 1LG "$p1" "$((p1 + 1))" - \
                    inspb.loadgen.local "$((p2 + 1))" inspc.loadgen.local "$((p3 + 1))"
                start_inspircd inspb.loadgen.local 2LG "$p2" "$((p2 + 1))" inspa.loadgen.local \
                    inspa.loadgen.local "$((p1 + 1))"
                start_inspircd inspc.loadgen.local 3LG "$p3" "$((p3 + 1))" inspa.loadgen.local \
                    inspa.loadgen.local "$((p1 + 1))"
                linked=3
                ;;
            ngircd)
                start_ngircd ngira.loadgen.local "$p1" ngirb.loadgen.local "$p2" yes
                start_ngircd ngirb.loadgen.local "$p2" ngira.loadgen.local "$p1" no
                receivers="127.0.0.1:$p2"
                ;;
        esac
        if [[ $server == latticed ]]; then
            wait_cluster "$((p1 + 50))" 2 30 && wait_cluster "$((p2 + 50))" 2 30 && wait_cluster "$((p3 + 50))" 2 30 || status=1
        else
            python3 "$HERE/benchtool.py" wait-linked "127.0.0.1:$p1" "$linked" 30 || status=1
        fi
        if [[ ${status:-0} -ne 0 ]]; then
            record_error "$server" "$scenario" "$repeat" "the $server servers did not link within 30 s"
            stop_servers
            return 0
        fi
        target=(--sender-addr "127.0.0.1:$p1" --receiver-addrs "$receivers")
    else
        case $server in
            latticed) start_latticed "$((PORT_BASE + 1))"; target=(--addr "127.0.0.1:$((PORT_BASE + 1))") ;;
            inspircd) start_inspircd insp.loadgen.local 1LG "$((PORT_BASE + 3))"; target=(--addr "127.0.0.1:$((PORT_BASE + 3))") ;;
            ngircd) start_ngircd ngircd.loadgen.local "$((PORT_BASE + 4))"; target=(--addr "127.0.0.1:$((PORT_BASE + 4))") ;;
        esac
        pid=$SERVER_PID
        target+=(--server-pid "$pid")
    fi
    log "$scenario / $server / run $repeat"
    status=0
    line=$("$LOADGEN" "$scenario" "${target[@]}" "${ARGS[@]}" "${COMMON[@]}" --label "$server" 2>>"$WORK/loadgen.log") || status=$?
    if [[ $status -eq 0 && -n $line ]]; then
        printf '{"server":"%s","scenario":"%s","repeat":%d,"report":%s}\n' "$server" "$scenario" "$repeat" "$line" >> "$RESULTS"
    else
        record_error "$server" "$scenario" "$repeat" "latticed-loadgen exited with status $status (see its stderr above)"
        tail -n 5 "$WORK/loadgen.log" >&2
    fi
    stop_servers
}

record_error() {
    printf '{"server":"%s","scenario":"%s","repeat":%d,"error":"%s"}\n' "$1" "$2" "$3" "$4" >> "$RESULTS"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
CPU_BEFORE=$(head -n 1 /proc/stat)

# steal_since "CPU LINE": percent of all CPU time since that /proc/stat line that the hypervisor
# gave to other guests (steal). On a shared VM it inflates latencies of every server alike.
steal_since() {
    printf '%s\n%s\n' "$1" "$(head -n 1 /proc/stat)" | awk '
        { for (i = 2; i <= NF; i++) v[NR, i] = $i; n = NF }
        END { total = 0; for (i = 2; i <= n; i++) total += v[2, i] - v[1, i];
              steal = total > 0 ? 100 * (v[2, 9] - v[1, 9]) / total : 0; printf "%.1f", steal }'
}
mkdir -p "$OUT_DIR"
STAMP=$(date +%Y-%m-%d-%H%M%S)
RESULTS="$OUT_DIR/$STAMP.jsonl"
REPORT="$OUT_DIR/$STAMP.md"
: > "$RESULTS"

declare -a ACTIVE=()
for server in $SERVERS; do
    if available "$server"; then
        ACTIVE+=("$server")
    else
        log "skipping $server: not installed or unknown"
    fi
done

for scenario in $SCENARIOS; do
    case $scenario in
        fanout|channels|connect|cross) ;;
        *) log "unknown scenario $scenario"; exit 2 ;;
    esac
    for repeat in $(seq "$REPEATS"); do
        for server in "${ACTIVE[@]}"; do
            run_one "$server" "$scenario" "$repeat"
        done
    done
done

python3 "$HERE/benchtool.py" table "$RESULTS" \
    --title "latticed vs InspIRCd and ngIRCd, $STAMP" \
    --note "machine: $(nproc) cores, $(uname -sr), loopback; each run on a freshly started server" \
    --note "latticed: $("$LATTICED" --version 2>/dev/null || echo unknown); InspIRCd: $("$INSPIRCD" --version 2>/dev/null | head -n 1 || echo absent); ngIRCd: $("$NGIRCD" --version 2>/dev/null | head -n 1 || echo absent)" \
    --note "repeats: $REPEATS; raw figures: $(basename "$RESULTS"); took ${SECONDS} s" \
    --note "load average (1, 5, 15 min) before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure)" \
    --note "CPU time taken by the host (steal) over the whole run: $(steal_since "$CPU_BEFORE") % (above a few percent, latencies of every server rise)" \
    --note "peers' client sockets: $([[ $PEER_NODELAY == 1 ]] && echo "TCP_NODELAY (preloaded), like latticed's" || echo "as the peers set them (InspIRCd: Nagle on)")" \
    --note "cross: three linked nodes for latticed (QUIC full mesh) and InspIRCd (hub and two leaves), two for ngIRCd; the sender on the first, receivers on every node" \
    | tee "$REPORT"
log "wrote $REPORT and $RESULTS after ${SECONDS} s"
