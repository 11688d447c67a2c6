#!/usr/bin/env bash
# Vault benchmarks for issue 3, all on this machine (loopback only), in one run:
#
#   1. bulk import of N generated customers (haechi customers import): customers/s, and the
#      data dir size per customer;
#   2. RSS of `haechi serve` with those N customers loaded;
#   3. wrk at fixed concurrency against GET /v1/customers/me (customer token, plaintext),
#      GET /v1/customers/{id}?purpose=support (service, masked) and ?purpose=shipping
#      (service, plaintext), beside the baselines measured in the same run: a bare axum
#      handler returning constant JSON (examples/bare_axum.rs), the same plus a durable audit
#      append per request (examples/bare_audit.rs), and the token authority's introspection
#      and session (verify only) paths — the read path's ladder (issue 17);
#   4. the masked read spread uniformly over every customer (wrk_ids.lua), with the record
#      cache as configured (64 MiB) and, after a restart, with it off: what a store fetch adds.
#
# Settings: BENCH_CUSTOMERS (1000000) BENCH_THREADS (2) BENCH_CONNECTIONS (64)
#           BENCH_DURATION (10s) BENCH_WARMUP (3s) BENCH_BATCH (10000, import lines per
#           transaction) BENCH_METRICS_PORT (19191, the server's /metrics listener)
#           BENCH_SKIP_BUILD (unset). Needs wrk, curl, jq, bc, sqlite3.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
customers=${BENCH_CUSTOMERS:-1000000}
threads=${BENCH_THREADS:-2}
connections=${BENCH_CONNECTIONS:-64}
duration=${BENCH_DURATION:-10s}
warmup=${BENCH_WARMUP:-3s}

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    cargo build --release --bin haechi --example bare_axum --example bare_audit >&2
fi
haechi="$repo/target/release/haechi"
bare="$repo/target/release/examples/bare_axum"
bare_audit="$repo/target/release/examples/bare_audit"
batch=${BENCH_BATCH:-10000}
metrics_port=${BENCH_METRICS_PORT:-19191}
work=$(mktemp -d)
data="$work/data"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export HAECHI_DATA_DIR="$data"

echo "== generating $customers customers" >&2
"$haechi" customers generate --count "$customers" --seed 1 --out "$work/customers.jsonl"
# One customer whose password the bench knows, for the customer's own read path.
echo '{"name":"김벤치","email":"bench@example.com","phone":"010-9999-8888","birth_date":"1990-01-01","addresses":[{"recipient":"김벤치","phone":"010-9999-8888","road_address":"서울특별시 송파구 올림픽로 300","detail":"101동 1203호","postal_code":"05551"}],"password":"bench password 1"}' >> "$work/customers.jsonl"
echo "== importing" >&2
start=$(date +%s.%N)
"$haechi" customers import "$work/customers.jsonl" --batch "$batch" >&2
end=$(date +%s.%N)
import_seconds=$(echo "$end - $start" | bc -l)
import_rate=$(echo "$customers / $import_seconds" | bc -l)
data_bytes=$(du -sb "$data" | cut -f1)
bytes_per_customer=$(echo "$data_bytes / $customers" | bc -l)

cat > "$data/policy.toml" <<'POLICY'
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
service=$("$haechi" service create bench --purposes shipping,support 2>/dev/null)
client_id=$(echo "$service" | sed -n 's/^client_id=//p')
client_secret=$(echo "$service" | sed -n 's/^client_secret=//p')

sqlite3 "$data/haechi.db" "SELECT customer_id FROM customers" > "$work/ids.txt"

# Detection runs as it would in production (its cost is in every figure) but only records
# what it would do: the spread runs read every customer in turn, which is what a scraper does,
# and rule haechi.service.new_velocity would otherwise suspend the benchmark's service.
start_server() { # extra environment assignments…
    env "$@" HAECHI_DETECT__RESPONSE=dry_run HAECHI_LOG=warn HAECHI_LOGIN__ATTEMPTS_PER_SOURCE=100000000 \
        HAECHI_SERVER__METRICS_LISTEN="127.0.0.1:$metrics_port" "$haechi" serve --listen 127.0.0.1:0 > "$work/serve.log" 2>&1 &
    server_pid=$!
    pids+=("$server_pid")
    for _ in $(seq 1 600); do grep -q "listening on" "$work/serve.log" && break; sleep 0.1; done
    base=$(sed -n 's/^haechi listening on //p' "$work/serve.log")
}
start_server
start_baseline() { # BINARY LOG ARGS…
    local binary=$1 log=$2
    shift 2
    "$binary" 0 "$@" > "$log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
    local url
    url=$(sed -n 's/^.*listening on //p' "$log" | head -1)
    case "$url" in http*) echo "$url" ;; *) echo "http://$url" ;; esac
}
bare_base=$(start_baseline "$bare" "$work/bare.log")
# The audit baseline's log on the same disk as the data directory.
bare_audit_base=$(start_baseline "$bare_audit" "$work/bare_audit.log" "$work/bare-audit-log")

rss_kib=$(ps -o rss= -p "$server_pid" | tr -d ' ')
service_token=$(curl -s -u "$client_id:$client_secret" -d grant_type=client_credentials "$base/v1/oauth/token" | jq -r .access_token)
customer_token=$(curl -s -H 'content-type: application/json' -d '{"email":"bench@example.com","password":"bench password 1"}' "$base/v1/auth/login" | jq -r .access_token)
some_id=$(curl -s -H "authorization: Bearer $service_token" -H 'content-type: application/json' \
    -d "$(head -1 "$work/customers.jsonl" | jq -c '{email: .email, purpose: "support"}')" "$base/v1/customers/lookup" | jq -r '.ids[0]')

run() { # URL AUTH LUA
    BENCH_AUTHORIZATION="$2" BENCH_BODY="${4:-}" BENCH_CONTENT_TYPE="application/x-www-form-urlencoded" \
        wrk -t"$threads" -c"$connections" -d"$warmup" --latency -s "$3" "$1" >/dev/null
    BENCH_AUTHORIZATION="$2" BENCH_BODY="${4:-}" BENCH_CONTENT_TYPE="application/x-www-form-urlencoded" \
        wrk -t"$threads" -c"$connections" -d"$duration" --latency -s "$3" "$1" | grep '^RESULT'
}
get_lua="$repo/scripts/bench/wrk_get.lua"
post_lua="$repo/scripts/bench/wrk_post.lua"
bare_result=$(run "$bare_base/v1/oauth/introspect" "" "$post_lua" "token=x")
bare_audit_result=$(run "$bare_audit_base/read" "" "$get_lua")
introspect_result=$(run "$base/v1/oauth/introspect" "Bearer $service_token" "$post_lua" "token=$customer_token")
masked_result=$(run "$base/v1/customers/$some_id?purpose=support" "Bearer $service_token" "$get_lua")
# The masked read paced to about half of its peak: each connection pauses between requests so
# that the connections together ask for half the peak rate (the latency at that load is the
# target's p99 bound; the achieved rate is in the row).
half_delay_ms=$(echo "scale=0; 2 * 1000 * $connections / $(echo "$masked_result" | tr ' ' '\n' | sed -n 's/^rps=//p')" | bc)
masked_half_result=$(BENCH_DELAY_MS=$half_delay_ms run "$base/v1/customers/$some_id?purpose=support" "Bearer $service_token" "$get_lua")
plain_result=$(run "$base/v1/customers/$some_id?purpose=shipping" "Bearer $service_token" "$get_lua")
session_result=$(run "$base/v1/auth/session" "Bearer $customer_token" "$get_lua")
me_result=$(run "$base/v1/customers/me" "Bearer $customer_token" "$get_lua")
spread() { # wrk over every customer id, masked
    BENCH_IDS_FILE="$work/ids.txt" BENCH_PURPOSE=support BENCH_AUTHORIZATION="Bearer $service_token" \
        wrk -t"$threads" -c"$connections" -d"$warmup" --latency -s "$repo/scripts/bench/wrk_ids.lua" "$base" >/dev/null
    BENCH_IDS_FILE="$work/ids.txt" BENCH_PURPOSE=support BENCH_AUTHORIZATION="Bearer $service_token" \
        wrk -t"$threads" -c"$connections" -d"$duration" --latency -s "$repo/scripts/bench/wrk_ids.lua" "$base" | grep '^RESULT'
}
spread_cached_result=$(spread)
cache_stats=$(curl -s "http://127.0.0.1:$metrics_port/metrics" | grep '^haechi_record_cache' | tr '\n' ' ' || true)
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
start_server HAECHI_VAULT__RECORD_CACHE_MIB=0
masked_uncached_result=$(run "$base/v1/customers/$some_id?purpose=support" "Bearer $service_token" "$get_lua")
spread_uncached_result=$(spread)

field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
ratio() { echo "scale=2; $(field "$1" rps) / $(field "$bare_result" rps)" | bc -l; }
echo
echo "Vault, $customers customers, $(nproc) cores shared by server and wrk -t$threads -c$connections, $duration after $warmup warm-up"
echo
echo "| measure | value |"
echo "|---|---|"
printf '| import | %.0f customers/s (%.1f s for %s) |\n' "$import_rate" "$import_seconds" "$customers"
printf '| data dir per customer | %.0f bytes (%s bytes total) |\n' "$bytes_per_customer" "$data_bytes"
echo "| server RSS with $customers customers | $((rss_kib / 1024)) MiB |"
echo
echo "| endpoint | req/s | p50 ms | p99 ms | non-2xx | vs bare axum |"
echo "|---|---|---|---|---|---|"
for row in "bare axum constant JSON|$bare_result" \
           "bare axum + durable audit append (examples/bare_audit.rs)|$bare_audit_result" \
           "POST /v1/oauth/introspect|$introspect_result" \
           "GET /v1/auth/session (verify only)|$session_result" \
           "GET /v1/customers/me (customer, plaintext)|$me_result" \
           "GET /v1/customers/{id} masked (support), one customer|$masked_result" \
           "masked, one customer, paced to about half of its peak (${half_delay_ms} ms between requests per connection)|$masked_half_result" \
           "GET /v1/customers/{id} plaintext (shipping), one customer|$plain_result" \
           "masked, every customer in turn, record cache 64 MiB|$spread_cached_result" \
           "masked, one customer, record cache off|$masked_uncached_result" \
           "masked, every customer in turn, record cache off|$spread_uncached_result"; do
    name=${row%%|*}; result=${row#*|}
    echo "| $name | $(field "$result" rps) | $(field "$result" p50_ms) | $(field "$result" p99_ms) | $(field "$result" non2xx) | $(ratio "$result") |"
done
echo
echo "record cache after the spread run: ${cache_stats:-no metrics}"
