#!/usr/bin/env bash
# How long a drill's set-up takes with its customers created through the bulk path (a server
# of the drill's own: `haechi customers import -` before `serve` starts) and over HTTP (a
# `--target`: `POST /v1/customers` through the account service, eight at a time), in one run:
# the same scenario, seed and customer count, timed whole (the traffic after set-up does not
# depend on the customer count, so the difference is the set-up's).
#
# Settings: BENCH_CUSTOMERS (50000) BENCH_SCENARIO (coupang) BENCH_SKIP_BUILD (unset).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
customers=${BENCH_CUSTOMERS:-50000}
scenario=${BENCH_SCENARIO:-coupang}
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    cargo build --release --bin haechi >&2
fi
haechi="$repo/target/release/haechi"
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

seconds() { local start=$1; echo "$(date +%s.%N) - $start" | bc; }

start=$(date +%s.%N)
"$haechi" drill "$scenario" --customers "$customers" --quiet --out "$work/bulk" >/dev/null
bulk=$(seconds "$start")

# The --target path: a server of its own on the drill clock, as docs/drills.md shows.
export HAECHI_DRILL__DANGEROUS_SIMULATED_CLOCK=true HAECHI_DRILL__START=2025-06-24T00:00:00Z
export HAECHI_SERVER__TRUSTED_PROXIES='["127.0.0.0/8"]' HAECHI_DETECT__RESPONSE=enforce
export HAECHI_AUDIT__MIN_FREE_HEADROOM=0% HAECHI_LOG=error
admin=$("$haechi" admin create drill --data-dir "$work/target" 2>/dev/null)
id=$(sed -n 's/^client_id=//p' <<<"$admin")
secret=$(sed -n 's/^client_secret=//p' <<<"$admin")
"$haechi" serve --data-dir "$work/target" --listen 127.0.0.1:0 >"$work/serve.out" 2>/dev/null &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/serve.out" && break; sleep 0.1; done
base=$(sed -n 's/^haechi listening on //p' "$work/serve.out")
start=$(date +%s.%N)
"$haechi" drill "$scenario" --customers "$customers" --quiet --out "$work/http" \
    --target "$base" --admin "$id:$secret" >/dev/null
http=$(seconds "$start")

printf '| set-up path | customers | whole drill, s |\n|---|---|---|\n'
printf '| bulk (server of its own) | %s | %.1f |\n' "$customers" "$bulk"
printf '| HTTP (--target) | %s | %.1f |\n' "$customers" "$http"
