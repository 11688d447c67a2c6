#!/usr/bin/env bash
# Profiles the embedded node's masked service read under load: 20,000 customers, one service,
# wrk -t2 -c64 on one customer for 12 s, `perf record` (DWARF call graphs) on the server for 8 s
# of it. PROFILE_ENDPOINT=session profiles token verification alone (GET /v1/auth/session with
# the service's token) instead; BENCH_HAECHI picks another binary (default the release build).
# Writes PERF_OUT (default /tmp/read.perf.data); read it with
#   perf report -i /tmp/read.perf.data --no-children --sort comm
# Needs a release build (cargo build --release --bin haechi), wrk, jq, perf.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${PERF_OUT:-/tmp/read.perf.data}
haechi=${BENCH_HAECHI:-$repo/target/release/haechi}
work=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
export HAECHI_DATA_DIR="$work/data"
"$haechi" customers generate --count 20000 --seed 1 --out "$work/customers.jsonl"
"$haechi" customers import "$work/customers.jsonl" --batch 2000 >/dev/null 2>&1
cat > "$HAECHI_DATA_DIR/policy.toml" <<'POLICY'
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
service=$("$haechi" service create bench --purposes support 2>/dev/null)
client_id=$(echo "$service" | sed -n 's/^client_id=//p')
client_secret=$(echo "$service" | sed -n 's/^client_secret=//p')
HAECHI_LOG=warn "$haechi" serve --listen 127.0.0.1:0 > "$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -q "listening on" "$work/serve.log" && break; sleep 0.1; done
base=$(sed -n 's/^haechi listening on //p' "$work/serve.log")
token=$(curl -s -u "$client_id:$client_secret" -d grant_type=client_credentials "$base/v1/oauth/token" | jq -r .access_token)
id=$(curl -s -H "authorization: Bearer $token" -H 'content-type: application/json' -d "$(head -1 "$work/customers.jsonl" | jq -c '{email: .email, purpose: "support"}')" "$base/v1/customers/lookup" | jq -r '.ids[0]')
export BENCH_AUTHORIZATION="Bearer $token"
case "${PROFILE_ENDPOINT:-masked}" in
    masked) url="$base/v1/customers/$id?purpose=support" ;;
    session) url="$base/v1/auth/session" ;;
    *) echo "PROFILE_ENDPOINT is masked or session" >&2; exit 2 ;;
esac
wrk -t2 -c64 -d3s -s "$repo"/scripts/bench/wrk_get.lua "$url" >/dev/null
( wrk -t2 -c64 -d12s -s "$repo/scripts/bench/wrk_get.lua" "$url" | grep RESULT ) &
load=$!
sleep 1
perf record -F 999 -g --call-graph dwarf,16384 -p "$pid" -o "$out" -- sleep 8 2>/dev/null
wait "$load"   # the server is stopped by the trap
