#!/usr/bin/env bash
# The portal's surge on a cluster (BENCHMARKS.md, "The surge on a portal node"): a portal node
# (--role portal) takes the crowd while an API node (--role api) and a detection node
# (--role detect) serve operators, all on PostgreSQL and NATS JetStream. This machine has two
# cores, so it stands in for two machines by pinning (taskset): the portal node and the
# generator on one core, the API and detection nodes, PostgreSQL and NATS on the other. What
# the two halves still share is what separate machines would: the store and the bus. The
# open-loop generator (examples/portal_surge.rs) sends the portal's mix at 1× and 2,000× a
# baseline rate, timing an operator's request and /healthz on the API node every 100 ms; then
# 2,000× once more with the crowd on the API node itself (an API node serves the portal too),
# the contrast in the same run.
#
# Needs the servers of scripts/cluster-servers (HAECHI_TEST_POSTGRES / HAECHI_TEST_NATS, or
# the defaults below), taskset, curl, jq, psql. Settings: BENCH_BASELINE_RATE (5)
# BENCH_SECONDS (20) BENCH_SKIP_BUILD (unset).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
baseline=${BENCH_BASELINE_RATE:-5}
seconds=${BENCH_SECONDS:-20}
pg_admin=${HAECHI_TEST_POSTGRES:-postgres://haechi@127.0.0.1:54329/postgres}
nats=${HAECHI_TEST_NATS:-nats://127.0.0.1:42229}
for tool in curl jq psql taskset; do
    command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 1; }
done
if [ "$(nproc)" -lt 2 ]; then
    echo "error: needs two cores to stand in for two machines" >&2
    exit 1
fi
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    cargo build --release --bin haechi --example portal_surge >&2
fi
haechi="$repo/target/release/haechi"
surge="$repo/target/release/examples/portal_surge"
all_cores="0-$(($(nproc) - 1))"
work=$(mktemp -d)
suffix="p$(date +%s)"
database="bench_$suffix"
store="${pg_admin%/*}/$database"
pids=()
# PostgreSQL's and NATS's processes, moved to core 0 for the run and given every core back
# after it.
shared_servers() {
    pgrep -x nats-server || true
    pgrep -x postgres || true
}
cleanup() {
    set +e
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    for pid in $(shared_servers); do taskset -a -p -c "$all_cores" "$pid" >/dev/null 2>&1; done
    psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $database" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
psql "$pg_admin" -qc "CREATE DATABASE $database"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/master.key"
chmod 600 "$work/master.key"
export HAECHI_MASTER_KEY_FILE="$work/master.key" HAECHI_LOG=warn HAECHI_AUDIT__MIN_FREE_HEADROOM=0%
unset HAECHI_CONFIG
cat >"$work/haechi.toml" <<'TOML'
[server]
# The generator is the crowd's proxy: each check says where it comes from.
trusted_proxies = ["127.0.0.1/32"]
TOML
cluster() { # node-id command…
    local node=$1
    shift
    env HAECHI_STORE="$store" HAECHI_BUS="$nats" HAECHI_BUS__PREFIX="$suffix" HAECHI_NODE_ID="$node" \
        HAECHI_TOKEN__ISSUER=https://bench.haechi "$haechi" --config "$work/haechi.toml" \
        --data-dir "$work/$node" "$@"
}

echo "== a customer with a login, an incident naming them, an administrator" >&2
customer=$(printf 'correct horse battery\n' | cluster ops customers create \
    --email surge@example.com --phone 010-2468-1357 --password-stdin | sed -n 's/^customer_id=//p')
printf '{"customer_id":"%s","fields":["name","phone","addresses"],"first":"2025-06-11T01:00:00Z","last":"2025-06-11T05:57:37Z","reads":2}\n' \
    "$customer" >"$work/affected.jsonl"
cluster ops incident create --from "$work/affected.jsonl" --title "Session key leak" --quiet >/dev/null
admin=$(cluster ops admin create surge)
admin_id=$(sed -n 's/^client_id=//p' <<<"$admin")
admin_secret=$(sed -n 's/^client_secret=//p' <<<"$admin")

# Starts a node pinned to a core; its URL is left in $started and its pid in $started_pid.
start() { # core node-id role
    local core=$1 node=$2 role=$3
    (cluster "$node" serve --role "$role" --listen 127.0.0.1:0 >"$work/$node.log" 2>&1) &
    # The subshell's child is the server: pin it (and every thread it starts) once it runs.
    for _ in $(seq 1 600); do grep -q "listening on" "$work/$node.log" && break; sleep 0.1; done
    started_pid=$(pgrep -f -- "--data-dir $work/$node serve" | head -n1)
    pids+=("$started_pid")
    taskset -a -p -c "$core" "$started_pid" >/dev/null
    started=$(sed -n 's/^haechi listening on //p' "$work/$node.log" | head -n1)
}
for pid in $(shared_servers); do taskset -a -p -c 0 "$pid" >/dev/null; done
start 0 api-1 api
api=$started
api_pid=$started_pid
start 0 detect-1 detect
start 1 portal-1 portal
portal=$started
portal_pid=$started_pid

token=$(curl -sf "$api/v1/oauth/token" --data-urlencode grant_type=client_credentials \
    --data-urlencode "client_id=$admin_id" --data-urlencode "client_secret=$admin_secret" | jq -r .access_token)
cookie=$(curl -s -o /dev/null -D - "$portal/portal/login" \
    --data-urlencode identifier=surge@example.com --data-urlencode 'password=correct horse battery' |
    sed -n 's/^set-cookie: \([^;]*\).*/\1/Ip' | tr -d '\r')
[ -n "$token" ] && [ -n "$cookie" ] || { echo "error: no admin token or no session cookie" >&2; exit 1; }

for multiple in 1 2000; do
    rate=$((baseline * multiple))
    echo "== the crowd on the portal node, ${multiple}× ($rate req/s for ${seconds}s); the operator on the API node" >&2
    SURGE_OPERATOR_BASE="$api" taskset -c 1 "$surge" "$portal" "$rate" "$seconds" "$cookie" "$token" "$portal_pid"
    sleep 3
done
echo "== the contrast: the crowd on the API node itself, 2000×; the operator on the API node" >&2
SURGE_OPERATOR_BASE="$api" taskset -c 1 "$surge" "$api" "$((baseline * 2000))" "$seconds" "$cookie" "$token" "$api_pid"
