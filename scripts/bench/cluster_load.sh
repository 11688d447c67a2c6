#!/usr/bin/env bash
# Cluster benchmarks for issue 16, all on this machine (loopback only), in one run:
#
#   1. a PII read (GET /v1/customers/{id}, masked and plaintext) and token verification
#      (GET /v1/auth/session) on one node: the embedded SQLite default, one node on PostgreSQL
#      with its audit trail replicated to NATS JetStream, and a bare axum handler (baseline);
#   2. the same masked read through nginx over 1 and over 3 API nodes on PostgreSQL;
#   3. revocation propagation (examples/cluster_propagation.rs: revoked on node B, polled on
#      the others until refused), idle and while wrk loads the three nodes;
#   4. audit events/s through JetStream vs. raw JetStream publishes (crates/bus example).
#
# Needs the servers of scripts/cluster-servers (HAECHI_TEST_POSTGRES / HAECHI_TEST_NATS, or
# the defaults below), nginx, wrk, curl, jq, bc, psql.
# Settings: BENCH_CUSTOMERS (20000) BENCH_THREADS (2) BENCH_CONNECTIONS (64)
#           BENCH_DURATION (10s) BENCH_WARMUP (3s) BENCH_ROUNDS (100) BENCH_SKIP_BUILD (unset).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
customers=${BENCH_CUSTOMERS:-20000}
threads=${BENCH_THREADS:-2}
connections=${BENCH_CONNECTIONS:-64}
duration=${BENCH_DURATION:-10s}
warmup=${BENCH_WARMUP:-3s}
rounds=${BENCH_ROUNDS:-100}
pg_admin=${HAECHI_TEST_POSTGRES:-postgres://haechi@127.0.0.1:54329/postgres}
nats=${HAECHI_TEST_NATS:-nats://127.0.0.1:42229}

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    cargo build --release --bin haechi --example bare_axum --example cluster_propagation >&2
    cargo build --release -p haechi-bus --example audit_throughput >&2
fi
haechi="$repo/target/release/haechi"
work=$(mktemp -d)
chmod 755 "$work"
suffix="b$(date +%s)"
database="bench_$suffix"
store="${pg_admin%/*}/$database"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    sleep 0.5
    psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $database" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
psql "$pg_admin" -qc "CREATE DATABASE $database"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/master.key"
chmod 600 "$work/master.key"
export HAECHI_MASTER_KEY_FILE="$work/master.key" HAECHI_LOG=warn
export HAECHI_LOGIN__ATTEMPTS_PER_SOURCE=100000000
export HAECHI_AUDIT__MIN_FREE_HEADROOM=0%
cat >"$work/policy.toml" <<'POLICY'
[[grant]]
service = "bench"
purposes = ["shipping"]
fields = ["name", "phone", "addresses"]
access = "plaintext"

[[grant]]
service = "bench"
purposes = ["support"]
fields = ["*"]
access = "masked"

[quota]
masked = 100000000
plaintext = 100000000
customer_requests_per_minute = 100000000
POLICY
export HAECHI_VAULT__POLICY_FILE="$work/policy.toml"

echo "== generating $customers customers" >&2
"$haechi" --data-dir "$work/gen" customers generate --count "$customers" --seed 1 --out "$work/customers.jsonl" >&2
cluster_env() { # node-id
    echo "HAECHI_STORE=$store HAECHI_BUS=$nats HAECHI_BUS__PREFIX=$suffix HAECHI_NODE_ID=$1 HAECHI_TOKEN__ISSUER=https://bench.haechi"
}
echo "== importing into the embedded store and into PostgreSQL" >&2
"$haechi" --data-dir "$work/embedded" customers import "$work/customers.jsonl" --batch 2000 >&2
embedded_service=$("$haechi" --data-dir "$work/embedded" service create bench --purposes shipping,support 2>/dev/null)
env $(cluster_env ops) "$haechi" --data-dir "$work/ops" customers import "$work/customers.jsonl" --batch 2000 >&2
cluster_service=$(env $(cluster_env ops) "$haechi" --data-dir "$work/ops" service create bench --purposes shipping,support 2>/dev/null)

# Starts a node; its URL is left in $started. (Not a $(…) substitution: the pid must reach
# this shell's `pids` for the cleanup to stop the node.)
start() { # name data-dir env…
    local name=$1 dir=$2
    shift 2
    env "$@" "$haechi" --data-dir "$dir" serve --listen 127.0.0.1:0 >"$work/$name.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 600); do grep -q "listening on" "$work/$name.log" && break; sleep 0.1; done
    started=$(sed -n 's/^haechi listening on //p' "$work/$name.log")
}
start embedded "$work/embedded" HAECHI_LOG=warn
embedded=$started
start api-a "$work/api-a" $(cluster_env api-a)
node_a=$started
"$repo/target/release/examples/bare_axum" 0 >"$work/bare.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q "listening on" "$work/bare.log" && break; sleep 0.1; done
bare=$(sed -n 's/^.*listening on //p' "$work/bare.log" | head -1)
case "$bare" in http*) ;; *) bare="http://$bare" ;; esac

credential() { echo "$1" | sed -n "s/^$2=//p"; }
token_of() { # base service-output
    curl -s -u "$(credential "$2" client_id):$(credential "$2" client_secret)" \
        -d grant_type=client_credentials "$1/v1/oauth/token" | jq -r .access_token
}
first_email=$(head -1 "$work/customers.jsonl" | jq -r .email)
id_of() { # base token
    curl -s -H "authorization: Bearer $2" -H 'content-type: application/json' \
        -d "{\"email\":\"$first_email\",\"purpose\":\"support\"}" "$1/v1/customers/lookup" | jq -r '.ids[0]'
}
# What one request costs the shared servers: PostgreSQL transactions (pg_stat_database, every
# autocommit statement is one) and messages appended to the cluster's audit stream (NATS
# monitoring), counted around the measured run.
nats_monitor=${BENCH_NATS_MONITOR:-http://127.0.0.1:42230}
pg_transactions() {
    psql "$pg_admin" -tAc "SELECT pg_stat_clear_snapshot(); SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$database'" | tail -1
}
stream_messages() {
    curl -s "$nats_monitor/jsz?streams=true" |
        jq "[.account_details[]?.stream_detail[]? | select(.name == \"${suffix}_audit\") | .state.messages] | add // 0"
}
run() { # URL AUTH LUA [BODY]
    BENCH_AUTHORIZATION="$2" BENCH_BODY="${4:-}" BENCH_CONTENT_TYPE="application/x-www-form-urlencoded" \
        wrk -t"$threads" -c"$connections" -d"$warmup" --latency -s "$3" "$1" >/dev/null
    local transactions_before messages_before line requests
    transactions_before=$(pg_transactions)
    messages_before=$(stream_messages)
    line=$(BENCH_AUTHORIZATION="$2" BENCH_BODY="${4:-}" BENCH_CONTENT_TYPE="application/x-www-form-urlencoded" \
        wrk -t"$threads" -c"$connections" -d"$duration" --latency -s "$3" "$1" | grep '^RESULT')
    requests=$(field "$line" requests)
    # pg_stat_database is updated by backends about every 500 ms: let the counters land.
    sleep 1
    echo "$line pg_per_request=$(echo "scale=2; ($(pg_transactions) - $transactions_before) / $requests" | bc -l) stream_per_request=$(echo "scale=3; ($(stream_messages) - $messages_before) / $requests" | bc -l)"
}
get_lua="$repo/scripts/bench/wrk_get.lua"
post_lua="$repo/scripts/bench/wrk_post.lua"
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

embedded_token=$(token_of "$embedded" "$embedded_service")
embedded_id=$(id_of "$embedded" "$embedded_token")
cluster_token=$(token_of "$node_a" "$cluster_service")
cluster_id=$(id_of "$node_a" "$cluster_token")

echo "== one node: bare axum, embedded, PostgreSQL + JetStream" >&2
declare -A result
result[bare]=$(run "$bare/v1/oauth/introspect" "" "$post_lua" "token=x")
result[embedded_masked]=$(run "$embedded/v1/customers/$embedded_id?purpose=support" "Bearer $embedded_token" "$get_lua")
result[embedded_plain]=$(run "$embedded/v1/customers/$embedded_id?purpose=shipping" "Bearer $embedded_token" "$get_lua")
result[embedded_session]=$(run "$embedded/v1/auth/session" "Bearer $embedded_token" "$get_lua")
result[pg_masked]=$(run "$node_a/v1/customers/$cluster_id?purpose=support" "Bearer $cluster_token" "$get_lua")
result[pg_plain]=$(run "$node_a/v1/customers/$cluster_id?purpose=shipping" "Bearer $cluster_token" "$get_lua")
result[pg_session]=$(run "$node_a/v1/auth/session" "Bearer $cluster_token" "$get_lua")
kill "${pids[0]}" 2>/dev/null || true   # the embedded node: out of the cluster runs

echo "== nginx over 1 and 3 API nodes" >&2
start api-b "$work/api-b" $(cluster_env api-b)
node_b=$started
start api-c "$work/api-c" $(cluster_env api-c)
node_c=$started
nginx_conf() { # port upstream…
    local port=$1
    shift
    {
        echo "worker_processes 1; error_log $work/nginx-error.log warn; pid $work/nginx.pid;"
        echo "events { worker_connections 4096; }"
        echo "http { access_log off; upstream haechi {"
        for upstream in "$@"; do echo "  server ${upstream#http://};"; done
        echo "  keepalive 64; }"
        echo "  server { listen 127.0.0.1:$port; location / { proxy_pass http://haechi;"
        echo "    proxy_http_version 1.1; proxy_set_header Connection \"\"; } } }"
    } >"$work/nginx.conf"
}
nginx_port=$((20000 + RANDOM % 20000))
nginx_conf "$nginx_port" "$node_a"
nginx -c "$work/nginx.conf" -p "$work"
sleep 0.5
result[nginx_1]=$(run "http://127.0.0.1:$nginx_port/v1/customers/$cluster_id?purpose=support" "Bearer $cluster_token" "$get_lua")
nginx_conf "$nginx_port" "$node_a" "$node_b" "$node_c"
nginx -c "$work/nginx.conf" -p "$work" -s reload
sleep 1
result[nginx_3]=$(run "http://127.0.0.1:$nginx_port/v1/customers/$cluster_id?purpose=support" "Bearer $cluster_token" "$get_lua")

echo "== revocation propagation, idle and under load" >&2
client="$(credential "$cluster_service" client_id):$(credential "$cluster_service" client_secret)"
propagation() {
    "$repo/target/release/examples/cluster_propagation" --nodes "$node_a,$node_b,$node_c" \
        --client "$client" --rounds "$rounds"
}
propagation_idle=$(propagation)
BENCH_AUTHORIZATION="Bearer $cluster_token" wrk -t1 -c32 -d120s -s "$get_lua" \
    "http://127.0.0.1:$nginx_port/v1/customers/$cluster_id?purpose=support" >/dev/null &
load=$!
sleep 2
propagation_loaded=$(propagation)
kill "$load" 2>/dev/null || true

echo "== audit events/s: replicated to JetStream vs raw publishes" >&2
audit=$("$repo/target/release/examples/audit_throughput" "$nats" 20000 64 2>&1 | tail -20)

ratio() { echo "scale=2; $(field "$1" rps) / $(field "${result[bare]}" rps)" | bc -l; }
echo
echo "Cluster, $customers customers, $(nproc) cores shared by every server and wrk -t$threads -c$connections, $duration after $warmup warm-up"
echo
echo "| path | req/s | p50 ms | p99 ms | vs bare axum | PG transactions / request | stream messages / request |"
echo "|---|---|---|---|---|---|---|"
for row in "bare axum constant JSON|bare" \
           "embedded: GET /v1/auth/session (verify)|embedded_session" \
           "embedded: GET /v1/customers/{id} masked|embedded_masked" \
           "embedded: GET /v1/customers/{id} plaintext|embedded_plain" \
           "PostgreSQL + JetStream: GET /v1/auth/session|pg_session" \
           "PostgreSQL + JetStream: GET /v1/customers/{id} masked|pg_masked" \
           "PostgreSQL + JetStream: GET /v1/customers/{id} plaintext|pg_plain" \
           "nginx → 1 API node (PostgreSQL), masked|nginx_1" \
           "nginx → 3 API nodes (PostgreSQL), masked|nginx_3"; do
    name=${row%%|*}; value=${result[${row#*|}]}
    echo "| $name | $(field "$value" rps) | $(field "$value" p50_ms) | $(field "$value" p99_ms) | $(ratio "$value") | $(field "$value" pg_per_request) | $(field "$value" stream_per_request) |"
done
echo
echo "Revocation propagation (revoked on one node, refused on each other node):"
echo "- idle:        $propagation_idle"
echo "- under load:  $propagation_loaded"
echo
echo "Audit throughput (crates/bus/examples/audit_throughput.rs, 20 000 events, 64 writers):"
echo '```'
echo "$audit"
echo '```'
