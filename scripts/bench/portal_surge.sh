#!/usr/bin/env bash
# The exposure portal under a surge (BENCHMARKS.md, "The portal under a surge"): the
# open-loop generator (examples/portal_surge.rs) sends the portal's mix — 80 % anonymous
# checks from a crowd of addresses, 15 % incident page, 5 % signed-in view — at 1×, 100× and
# 2,000× a baseline rate, timing an operator's request and /healthz every 100 ms meanwhile;
# 2,000× once more with the operator's requests on the operator listener (server.operator_listen),
# and once more with the crowd on the portal's own lower-priority listener (portal.listen);
# then the same rate against Debian's nginx serving a copy of the incident page (the ceiling).
# BENCH_SOAK_ROUNDS=N runs N rounds of 2,000× back to back instead (the memory soak).
# BENCH_COSTS=1 measures instead what each kind of request costs the server: each kind alone,
# then the mix, at BENCH_COST_RATE (2000) req/s, and nginx at the same rate; the generator
# reports the server's CPU microseconds per request; BENCH_PERF=PREFIX profiles each kind.
# BENCH_CUSTOMERS (400) signed-in customers share the signed-in views, each from the address
# it signed in from. BENCH_MULTIPLES ("1 100 2000") the first runs' multiples; BENCH_KEEP_LOG=FILE keeps the
# server's log there. BENCH_SERVER_CORES / BENCH_CLIENT_CORES (e.g. 0 and 1) pin the servers
# (haechi, nginx) and the generator to cores of their own (taskset), so the crowd's generator
# does not take the server's CPU: on a real surge the crowd is not on the server's machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
baseline=${BENCH_BASELINE_RATE:-5}
seconds=${BENCH_SECONDS:-20}
for tool in curl jq nginx; do
    command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 1; }
done
[ -n "${BENCH_SKIP_BUILD:-}" ] || cargo build --release --bin haechi --example portal_surge >&2
haechi="$repo/target/release/haechi"
server_pin=()
client_pin=()
[ -n "${BENCH_SERVER_CORES:-}" ] && server_pin=(taskset -c "$BENCH_SERVER_CORES")
[ -n "${BENCH_CLIENT_CORES:-}" ] && client_pin=(taskset -c "$BENCH_CLIENT_CORES")
# BENCH_GENERATOR: another build of the generator (to compare two in one session).
surge=${BENCH_GENERATOR:-"$repo/target/release/examples/portal_surge"}
work=$(mktemp -d)
pids=()
cleanup() {
    set +e
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
    [ -n "${BENCH_KEEP_LOG:-}" ] && cp "$work/serve.log" "$BENCH_KEEP_LOG"
    rm -rf "$work"
}
trap cleanup EXIT
run_haechi() {
    (cd "$work" && env -u HAECHI_MASTER_KEY -u HAECHI_CONFIG "$haechi" "$@" --config "$work/haechi.toml" --data-dir "$work/data")
}
cat >"$work/haechi.toml" <<'TOML'
[server]
# The generator is the crowd's proxy: each check says where it comes from.
trusted_proxies = ["127.0.0.1/32"]
# Operators' requests on a listener with a thread of its own (one 2,000× run uses it).
operator_listen = "127.0.0.1:0"

[portal]
# The portal alone on threads 10 below the rest of the server (the last haechi run sends the
# crowd here and the operator's requests to the main address).
listen = "127.0.0.1:0"
TOML
# A crowd of customers with logins (BENCH_CUSTOMERS, 400), each signed in once and viewing
# their own page in turn: at the lane's 200 views a second that is half a view a second each,
# well within the vault's protective limit (120 a minute per customer). One customer viewing
# their page hundreds of times a second is refused by that limit and then suspended as a
# scraper (the runs before 2026-12-08 did that, and counted the redirects that followed as
# views).
customers=${BENCH_CUSTOMERS:-400}
echo "== $customers customers with logins, an incident naming them, an administrator" >&2
for i in $(seq 1 "$customers"); do
    printf '{"name":"김해치","email":"surge%d@example.com","phone":"010-24%02d-%04d","password":"correct horse battery"}\n' \
        "$i" $((i / 10000)) $((i % 10000))
done >"$work/customers.jsonl"
run_haechi customers import "$work/customers.jsonl" --ids-out "$work/ids.tsv" >/dev/null
cut -f2 "$work/ids.tsv" | while read -r customer; do
    printf '{"customer_id":"%s","fields":["name","phone","addresses"],"first":"2025-06-11T01:00:00Z","last":"2025-06-11T05:57:37Z","reads":2}\n' \
        "$customer"
done >"$work/affected.jsonl"
run_haechi incident create --from "$work/affected.jsonl" --title "Session key leak" --quiet >/dev/null
admin=$(run_haechi admin create surge)
admin_id=$(sed -n 's/^client_id=//p' <<<"$admin")
admin_secret=$(sed -n 's/^client_secret=//p' <<<"$admin")

(cd "$work" && exec env -u HAECHI_MASTER_KEY -u HAECHI_CONFIG "${server_pin[@]}" "$haechi" serve \
    --listen 127.0.0.1:0 --config "$work/haechi.toml" --data-dir "$work/data") >"$work/serve.log" 2>&1 &
server_pid=$!
pids+=("$server_pid")
for _ in $(seq 1 200); do
    address=$(sed -n 's/^haechi listening on http:\/\///p' "$work/serve.log" | head -n1)
    [ -n "$address" ] && break
    sleep 0.1
done
base="http://$address"
operators="http://$(sed -n 's/^haechi operators on http:\/\///p' "$work/serve.log" | head -n1)"
portal="http://$(sed -n 's/^haechi portal on http:\/\///p' "$work/serve.log" | head -n1)"
token=$(curl -sf "$base/v1/oauth/token" --data-urlencode grant_type=client_credentials \
    --data-urlencode "client_id=$admin_id" --data-urlencode "client_secret=$admin_secret" | jq -r .access_token)
# Each customer signs in from an address of their own (the generator is their proxy) and
# views their page from there: "ADDRESS COOKIE" a line.
for i in $(seq 1 "$customers"); do
    address="10.200.$((i / 256)).$((i % 256))"
    curl -s -o /dev/null -D - "$base/portal/login" -H "x-forwarded-for: $address" \
        --data-urlencode "identifier=surge$i@example.com" --data-urlencode 'password=correct horse battery' |
        sed -n "s/^set-cookie: \([^;]*\).*/$address \1/Ip" | tr -d '\r'
done >"$work/cookies"
signed_in=$(grep -c . "$work/cookies" || true)
[ "$signed_in" -eq "$customers" ] || { echo "error: $signed_in of $customers customers signed in" >&2; exit 1; }
cookie="@$work/cookies"

mkdir -p "$work/static/portal"
curl -sf "$base/portal/incident" -o "$work/static/portal/incident"
# nginx's workers run as an unprivileged user: let them read the copy.
chmod a+rx "$work" "$work/static" "$work/static/portal"
chmod a+r "$work/static/portal/incident"
cat >"$work/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx.error.log;
events { worker_connections 8192; }
http {
    access_log off;
    server {
        listen 127.0.0.1:18931;
        root $work/static;
        default_type text/html;
    }
}
NGINX
"${server_pin[@]}" nginx -c "$work/nginx.conf" -p "$work"

if [ -n "${BENCH_COSTS:-}" ]; then
    rate=${BENCH_COST_RATE:-2000}
    for only in check incident_page signed_in_view; do
        echo "== haechi, $only alone ($rate req/s for ${seconds}s)" >&2
        # BENCH_PERF=PREFIX: a CPU profile of the server per kind, in PREFIX.KIND (perf report -i).
        [ -n "${BENCH_PERF:-}" ] &&
            perf record -q -F 499 -g -p "$server_pid" -o "$BENCH_PERF.$only" -- sleep "$seconds" 2>/dev/null &
        SURGE_ONLY=$only SURGE_OPERATOR_BASE="$base" "${client_pin[@]}" "$surge" "$portal" "$rate" "$seconds" "$cookie" "$token" "$server_pid"
        sleep 2
    done
    echo "== haechi, the mix ($rate req/s for ${seconds}s)" >&2
    SURGE_OPERATOR_BASE="$base" "${client_pin[@]}" "$surge" "$portal" "$rate" "$seconds" "$cookie" "$token" "$server_pid"
    sleep 2
    echo "== nginx, the incident page ($rate req/s for ${seconds}s)" >&2
    "${client_pin[@]}" "$surge" "http://127.0.0.1:18931" "$rate" "$seconds" "" "" "$(cat "$work/nginx.pid")" static
    exit 0
fi
if [ -n "${BENCH_SOAK_ROUNDS:-}" ]; then
    # The soak: 2,000× again and again against the same server, its resident memory before,
    # at most and after each round (a leak grows round after round; a plateau does not).
    for round in $(seq 1 "$BENCH_SOAK_ROUNDS"); do
        echo "== soak round $round: 2000× ($((baseline * 2000)) req/s for ${seconds}s)" >&2
        "${client_pin[@]}" "$surge" "$base" "$((baseline * 2000))" "$seconds" "$cookie" "$token" "$server_pid"
    done
    exit 0
fi
for multiple in ${BENCH_MULTIPLES:-1 100 2000}; do
    rate=$((baseline * multiple))
    echo "== haechi, ${multiple}× ($rate req/s for ${seconds}s)" >&2
    "${client_pin[@]}" "$surge" "$base" "$rate" "$seconds" "$cookie" "$token" "$server_pid"
    sleep 3
done
[ -n "${BENCH_ONLY_FIRST:-}" ] && exit 0
echo "== haechi, 2000× again, the operator's requests on the operator listener" >&2
SURGE_OPERATOR_BASE="$operators" "${client_pin[@]}" "$surge" "$base" "$((baseline * 2000))" "$seconds" "$cookie" "$token" "$server_pid"
sleep 3
echo "== haechi, 2000× again, the crowd on the portal's listener (portal.nice 10), the operator's requests on the main address" >&2
SURGE_OPERATOR_BASE="$base" "${client_pin[@]}" "$surge" "$portal" "$((baseline * 2000))" "$seconds" "$cookie" "$token" "$server_pid"
sleep 3
echo "== nginx, the ceiling ($((baseline * 2000)) req/s)" >&2
"${client_pin[@]}" "$surge" "http://127.0.0.1:18931" "$((baseline * 2000))" "$seconds" "" "" "$(cat "$work/nginx.pid")" static
