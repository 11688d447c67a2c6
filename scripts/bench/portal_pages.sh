#!/usr/bin/env bash
# The portal's public pages under load beside a bare axum handler, in the same run: wrk -t2
# -c64 against `/portal/` (rendered), `/portal/` with a matching If-None-Match (304), the
# check's script (an asset) and `bare_axum` (a constant JSON body), alternating rounds.
# BENCHMARKS.md, "The exposure portal".
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
duration=${BENCH_DURATION:-8s}
rounds=${BENCH_ROUNDS:-2}
for tool in wrk curl; do
    command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 1; }
done
cargo build --release --bin haechi --example bare_axum >&2
haechi="$repo/target/release/haechi"
bare="$repo/target/release/examples/bare_axum"
work=$(mktemp -d)
pids=()
cleanup() {
    set +e
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
wait_for_address() {
    for _ in $(seq 1 200); do
        local address
        address=$(sed -n "s/^$2 listening on http:\/\///p" "$1" | head -n1)
        if [ -n "$address" ]; then echo "$address"; return 0; fi
        sleep 0.1
    done
    cat "$1" >&2
    return 1
}
(cd "$work" && exec env -u HAECHI_MASTER_KEY -u HAECHI_CONFIG \
    "$haechi" serve --listen 127.0.0.1:0 --data-dir "$work/data") >"$work/serve.log" 2>&1 &
pids+=($!)
haechi_address=$(wait_for_address "$work/serve.log" haechi)
"$bare" 0 >"$work/bare.log" 2>&1 &
pids+=($!)
bare_address=$(wait_for_address "$work/bare.log" bare_axum)

etag=$(curl -sI "http://$haechi_address/portal/" | sed -n 's/^etag: //Ip' | tr -d '\r')
asset=$(curl -s "http://$haechi_address/portal/" | grep -o 'assets&#x2f;check\.[0-9a-f]*\.js' | sed 's/&#x2f;/\//')
run() {
    local name=$1; shift
    wrk -t2 -c64 -d2s "$@" >/dev/null 2>&1 || true
    wrk -t2 -c64 -d"$duration" --latency "$@" >"$work/out" 2>&1
    local rate p50 p99
    rate=$(sed -n 's/^Requests\/sec: *//p' "$work/out")
    p50=$(awk '$1 == "50.000%" || $1 == "50%" {print $2}' "$work/out")
    p99=$(awk '$1 == "99.000%" || $1 == "99%" {print $2}' "$work/out")
    printf '%-28s %12s req/s   p50 %8s   p99 %8s\n' "$name" "$rate" "$p50" "$p99"
}
for round in $(seq 1 "$rounds"); do
    echo "== round $round"
    run "bare axum (baseline)" "http://$bare_address/"
    run "GET /portal/ (200)" "http://$haechi_address/portal/"
    run "GET /portal/ (304)" -H "If-None-Match: $etag" "http://$haechi_address/portal/"
    run "GET /portal/$asset" "http://$haechi_address/portal/$asset"
done
