#!/usr/bin/env bash
# Added latency of the durable audit trail on the read path (issue 4), in one run:
#
#   "on":  this tree's release binary: every pii.read is written and fdatasync'ed (group
#          commit) before the response is sent;
#   "off": the binary of BENCH_BASELINE (default f00f09c: the same vault and token code, events
#          only to the structured log, before the audit log was wired in), built from
#          `git archive` into its own target dir.
#
# Each variant gets a fresh data dir with BENCH_CUSTOMERS imported customers, then wrk runs
# GET /v1/customers/me (customer, plaintext) and GET /v1/customers/{id}?purpose=shipping
# (service, plaintext) — both emit pii.read — at 1 connection (the latency of one request alone:
# it pays a whole fsync) and at BENCH_CONNECTIONS (many requests share one fsync). Variants
# alternate for BENCH_ROUNDS rounds so drift on the shared machine hits both.
#
# Settings: BENCH_CUSTOMERS (1000) BENCH_CONNECTIONS (64) BENCH_DURATION (10s) BENCH_WARMUP (3s)
#           BENCH_ROUNDS (2) BENCH_BASELINE (f00f09c) BENCH_SKIP_BUILD (unset).
#           Needs wrk, curl, jq, git.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
customers=${BENCH_CUSTOMERS:-1000}
connections=${BENCH_CONNECTIONS:-64}
duration=${BENCH_DURATION:-10s}
warmup=${BENCH_WARMUP:-3s}
rounds=${BENCH_ROUNDS:-2}
baseline=${BENCH_BASELINE:-f00f09c}
baseline_target="$repo/target/bench-baseline"

work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    cargo build --release --bin haechi >&2
    mkdir -p "$work/baseline-src"
    git archive "$baseline" | tar -x -C "$work/baseline-src"
    # Bench and example targets the baseline's manifest names but did not commit yet.
    cp -rn "$repo/benches" "$repo/examples" "$work/baseline-src/" 2>/dev/null || true
    (cd "$work/baseline-src" && CARGO_TARGET_DIR="$baseline_target" cargo build --release --bin haechi >&2)
fi
declare -A binary=([on]="$repo/target/release/haechi" [off]="$baseline_target/release/haechi")

"${binary[on]}" customers generate --count "$customers" --seed 1 --out "$work/customers.jsonl"
echo '{"name":"김벤치","email":"bench@example.com","phone":"010-9999-8888","birth_date":"1990-01-01","addresses":[{"recipient":"김벤치","phone":"010-9999-8888","road_address":"서울특별시 송파구 올림픽로 300","detail":"101동 1203호","postal_code":"05551"}],"password":"bench password 1"}' >> "$work/customers.jsonl"

get_lua="$repo/scripts/bench/wrk_get.lua"
run() { # URL AUTH CONNECTIONS
    BENCH_AUTHORIZATION="$2" wrk -t1 -c"$3" -d"$warmup" --latency -s "$get_lua" "$1" >/dev/null
    BENCH_AUTHORIZATION="$2" wrk -t1 -c"$3" -d"$duration" --latency -s "$get_lua" "$1" | grep '^RESULT'
}
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

results=()
for round in $(seq 1 "$rounds"); do
    for variant in off on; do
        haechi=${binary[$variant]}
        data="$work/$variant-$round"
        export HAECHI_DATA_DIR="$data"
        "$haechi" customers import "$work/customers.jsonl" --batch 2000 >/dev/null 2>&1
        cat > "$data/policy.toml" <<'POLICY'
[[grant]]
service = "bench"
purposes = ["shipping"]
fields = ["name", "phone", "addresses"]
access = "plaintext"

[quota]
masked = 100000000
plaintext = 100000000
customer_requests_per_minute = 100000000
POLICY
        service=$("$haechi" service create bench --purposes shipping 2>/dev/null)
        client_id=$(echo "$service" | sed -n 's/^client_id=//p')
        client_secret=$(echo "$service" | sed -n 's/^client_secret=//p')
        HAECHI_LOG=warn "$haechi" serve --listen 127.0.0.1:0 > "$work/serve.log" 2>&1 &
        server_pid=$!
        pids+=("$server_pid")
        for _ in $(seq 1 600); do grep -q "listening on" "$work/serve.log" && break; sleep 0.1; done
        base=$(sed -n 's/^haechi listening on //p' "$work/serve.log")
        service_token=$(curl -s -u "$client_id:$client_secret" -d grant_type=client_credentials "$base/v1/oauth/token" | jq -r .access_token)
        customer_token=$(curl -s -H 'content-type: application/json' -d '{"email":"bench@example.com","password":"bench password 1"}' "$base/v1/auth/login" | jq -r .access_token)
        some_id=$(curl -s -H "authorization: Bearer $service_token" -H 'content-type: application/json' \
            -d '{"email":"bench@example.com","purpose":"shipping"}' "$base/v1/customers/lookup" | jq -r '.ids[0]')
        for c in 1 "$connections"; do
            me=$(run "$base/v1/customers/me" "Bearer $customer_token" "$c")
            by_id=$(run "$base/v1/customers/$some_id?purpose=shipping" "Bearer $service_token" "$c")
            results+=("$variant|$round|$c|GET /v1/customers/me|$me")
            results+=("$variant|$round|$c|GET /v1/customers/{id}?purpose=shipping|$by_id")
        done
        kill -TERM "$server_pid"
        wait "$server_pid" 2>/dev/null || true
    done
done

echo
echo "Audit on vs off, $(nproc) cores shared by server and wrk -t1, $duration after $warmup warm-up, $customers customers"
echo
echo "| endpoint | connections | audit | round | req/s | p50 ms | p99 ms | non-2xx |"
echo "|---|---|---|---|---|---|---|---|"
for row in "${results[@]}"; do
    IFS='|' read -r variant round c name result <<< "$row"
    echo "| $name | $c | $variant | $round | $(field "$result" rps) | $(field "$result" p50_ms) | $(field "$result" p99_ms) | $(field "$result" non2xx) |"
done
