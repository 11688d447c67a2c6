#!/usr/bin/env bash
# HTTP load run for issue 2, all on this machine (loopback only):
#
#   1. POST /v1/oauth/introspect on `haechi serve` (a service's Bearer token in Authorization,
#      a customer's access token in the form body) against the baseline: a bare axum handler
#      returning a constant JSON body (examples/bare_axum.rs), same request, same wrk settings.
#   2. POST /v1/auth/login with a real customer and the default argon2id parameters
#      (19 MiB, t=2, p=1) against the baseline: nproc x the one-core argon2id check rate
#      (benches/password_hash.rs).
#
# Prints a Markdown table. Settings (environment):
#   BENCH_THREADS (2) BENCH_CONNECTIONS (64) BENCH_DURATION (10s) BENCH_WARMUP (3s)
#   BENCH_LOGIN_CONNECTIONS (8) BENCH_LOGIN_DURATION (15s) BENCH_ROUNDS (3)
# Login runs at lower concurrency: each login is ~25 ms of CPU on the blocking pool, so 64 in
# flight on 2 cores only queue (p50 ~1 s) and finish in lockstep, which a 10 s window measures
# badly; 8 keep both cores busy.
# Needs wrk (apt-get install -y wrk), curl and jq.

set -euo pipefail

cd "$(dirname "$0")/../.."
repo=$(pwd)
threads=${BENCH_THREADS:-2}
connections=${BENCH_CONNECTIONS:-64}
login_connections=${BENCH_LOGIN_CONNECTIONS:-8}
duration=${BENCH_DURATION:-10s}
login_duration=${BENCH_LOGIN_DURATION:-15s}
rounds=${BENCH_ROUNDS:-3}
warmup=${BENCH_WARMUP:-3s}
lua="$repo/scripts/bench/wrk_post.lua"

for tool in wrk curl jq; do
    command -v "$tool" >/dev/null || { echo "error: $tool is not installed (apt-get install -y $tool)" >&2; exit 1; }
done

echo "== building (release)" >&2
cargo build --release --bin haechi --example bare_axum >&2
haechi="$repo/target/release/haechi"
bare="$repo/target/release/examples/bare_axum"

cargo bench --no-run --bench password_hash >&2

work=$(mktemp -d)
server_pid=""
bare_pid=""
cleanup() {
    local status=$?
    set +e
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
    if [ -n "$bare_pid" ]; then kill "$bare_pid" 2>/dev/null; wait "$bare_pid" 2>/dev/null; fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT

# Commands run inside $work so no haechi.toml from the caller's directory applies.
data="$work/data"
run_haechi() {
    (cd "$work" && env -u HAECHI_MASTER_KEY -u HAECHI_CONFIG \
        HAECHI_LOGIN__ATTEMPTS_PER_SOURCE=100000000 "$haechi" "$@" --data-dir "$data")
}

# Waits for "NAME listening on http://ADDR" in FILE and prints ADDR.
wait_for_address() {
    local file=$1 name=$2
    for _ in $(seq 1 200); do
        local address
        address=$(sed -n "s/^$name listening on http:\/\///p" "$file" | head -n1)
        if [ -n "$address" ]; then echo "$address"; return 0; fi
        sleep 0.1
    done
    echo "error: $name did not start:" >&2
    cat "$file" >&2
    return 1
}

echo "== setting up a data dir, a service and a customer" >&2
service=$(run_haechi service create bench --purposes shipping)
client_id=$(sed -n 's/^client_id=//p' <<<"$service")
client_secret=$(sed -n 's/^client_secret=//p' <<<"$service")
email="bench@example.com"
password="correct horse battery staple"
printf '%s\n' "$password" | run_haechi customers create --email "$email" \
    --phone 010-5555-0100 --password-stdin >/dev/null

(cd "$work" && exec env -u HAECHI_MASTER_KEY -u HAECHI_CONFIG \
    HAECHI_LOGIN__ATTEMPTS_PER_SOURCE=100000000 \
    "$haechi" serve --listen 127.0.0.1:0 --data-dir "$data") >"$work/serve.log" 2>&1 &
server_pid=$!
haechi_address=$(wait_for_address "$work/serve.log" haechi)

"$bare" 0 >"$work/bare.log" 2>&1 &
bare_pid=$!
bare_address=$(wait_for_address "$work/bare.log" bare_axum)

service_token=$(curl -sf "http://$haechi_address/v1/oauth/token" \
    --data-urlencode grant_type=client_credentials \
    --data-urlencode "client_id=$client_id" \
    --data-urlencode "client_secret=$client_secret" | jq -r .access_token)
login_body=$(jq -cn --arg email "$email" --arg password "$password" \
    '{email: $email, password: $password}')
customer_token=$(curl -sf "http://$haechi_address/v1/auth/login" \
    -H 'Content-Type: application/json' -d "$login_body" | jq -r .access_token)
active=$(curl -sf "http://$haechi_address/v1/oauth/introspect" \
    -H "Authorization: Bearer $service_token" \
    --data-urlencode "token=$customer_token" | jq -r .active)
if [ "$active" != "true" ]; then
    echo "error: introspection of the customer token did not answer active=true" >&2
    exit 1
fi

# run_wrk URL CONNECTIONS DURATION TIMEOUT: prints the RESULT line of wrk_post.lua.
run_wrk() {
    wrk -t"$threads" -c"$2" -d"$3" --timeout "$4" --latency -s "$lua" "$1" | tee -a "$work/wrk.log" |
        sed -n 's/^RESULT //p'
}
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

introspect_env() {
    export BENCH_CONTENT_TYPE="application/x-www-form-urlencoded"
    export BENCH_BODY="token=$customer_token"
    export BENCH_AUTHORIZATION="Bearer $service_token"
}
login_env() {
    export BENCH_CONTENT_TYPE="application/json"
    export BENCH_BODY="$login_body"
    export BENCH_AUTHORIZATION=""
}
haechi_introspect="http://$haechi_address/v1/oauth/introspect"
bare_introspect="http://$bare_address/v1/oauth/introspect"
haechi_login="http://$haechi_address/v1/auth/login"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== warm-up: $warmup each" >&2
introspect_env
run_wrk "$haechi_introspect" "$connections" "$warmup" 5s >/dev/null
run_wrk "$bare_introspect" "$connections" "$warmup" 5s >/dev/null
login_env
run_wrk "$haechi_login" "$login_connections" "$warmup" 60s >/dev/null
# Let the logins the warm-up left in flight finish before measuring.
sleep 1

# Rounds alternate Haechi and its baseline, so drift in the load from other work on the shared
# machine hits both; the table gives medians over rounds.
cores=$(nproc)
introspect_runs=() bare_runs=() login_runs=() argon2_rates=()
introspect_ratios=() login_ratios=()
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
for round in $(seq 1 "$rounds"); do
    echo "== round $round/$rounds: introspect and bare axum ($duration each, -t$threads -c$connections)" >&2
    introspect_env
    if [ $((round % 2)) -eq 1 ]; then
        introspect=$(run_wrk "$haechi_introspect" "$connections" "$duration" 5s)
        bare_result=$(run_wrk "$bare_introspect" "$connections" "$duration" 5s)
    else
        bare_result=$(run_wrk "$bare_introspect" "$connections" "$duration" 5s)
        introspect=$(run_wrk "$haechi_introspect" "$connections" "$duration" 5s)
    fi
    echo "== round $round/$rounds: login ($login_duration, -t$threads -c$login_connections), then argon2id baseline" >&2
    login_env
    login=$(run_wrk "$haechi_login" "$login_connections" "$login_duration" 60s)
    cargo bench --bench password_hash >&2
    argon2_ns=$(jq '(.slope // .mean).point_estimate' \
        "$repo/target/criterion/password/argon2id_verify_default/new/estimates.json")
    argon2_rate=$(awk -v ns="$argon2_ns" 'BEGIN { printf "%.1f", 1e9 / ns }')
    for result in "$introspect" "$bare_result" "$login"; do
        if [ "$(field non2xx "$result")" != "0" ] || [ "$(field socket_errors "$result")" != "0" ]; then
            echo "warning: errors during a run: $result (wrk output in $work/wrk.log)" >&2
        fi
    done
    introspect_runs+=("$introspect")
    bare_runs+=("$bare_result")
    login_runs+=("$login")
    argon2_rates+=("$argon2_rate")
    introspect_ratios+=("$(ratio "$(field rps "$introspect")" "$(field rps "$bare_result")")")
    login_ratios+=("$(ratio "$(field rps "$login")" "$(awk -v r="$argon2_rate" -v n="$cores" 'BEGIN { print r * n }')")")
    sleep 1
done

median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# median_of FIELD RUN...: the median of one field of wrk_post.lua's summary over runs.
median_of() {
    local name=$1 run values=()
    shift
    for run in "$@"; do values+=("$(field "$name" "$run")"); done
    median "${values[@]}"
}
sum_of() {
    local name=$1 run total=0
    shift
    for run in "$@"; do total=$((total + $(field "$name" "$run"))); done
    echo "$total"
}
argon2_per_core=$(median "${argon2_rates[@]}")
argon2_all=$(awk -v r="$argon2_per_core" -v n="$cores" 'BEGIN { printf "%.1f", r * n }')

cat <<EOF

HTTP load, wrk -t$threads; $rounds rounds alternating Haechi and its baseline after one $warmup warm-up each; medians over rounds. $cores cores shared by server, load client and other work; load average before: $load_before.

| Measurement | Haechi req/s | p50 ms | p99 ms | Baseline | Baseline req/s | p50 ms | p99 ms | Haechi / baseline |
| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |
| \`POST /v1/oauth/introspect\`, -c$connections, $duration per round | $(median_of rps "${introspect_runs[@]}") | $(median_of p50_ms "${introspect_runs[@]}") | $(median_of p99_ms "${introspect_runs[@]}") | bare axum, constant JSON | $(median_of rps "${bare_runs[@]}") | $(median_of p50_ms "${bare_runs[@]}") | $(median_of p99_ms "${bare_runs[@]}") | $(median "${introspect_ratios[@]}") |
| \`POST /v1/auth/login\` (argon2id 19 MiB, t=2, p=1), -c$login_connections, $login_duration per round | $(median_of rps "${login_runs[@]}") | $(median_of p50_ms "${login_runs[@]}") | $(median_of p99_ms "${login_runs[@]}") | argon2id check × $cores cores ($argon2_per_core/s per core) | $argon2_all | – | – | $(median "${login_ratios[@]}") |

Per-round ratios: introspect ${introspect_ratios[*]}; login ${login_ratios[*]}. Requests: introspect $(sum_of requests "${introspect_runs[@]}") (non-2xx $(sum_of non2xx "${introspect_runs[@]}")), bare $(sum_of requests "${bare_runs[@]}") (non-2xx $(sum_of non2xx "${bare_runs[@]}")), login $(sum_of requests "${login_runs[@]}") (non-2xx $(sum_of non2xx "${login_runs[@]}")).
EOF
