#!/usr/bin/env bash
# The responder console's "who was exposed" on a large trail, beside `haechi scope --alert` run
# on the same data in the same run (the console runs the same scope inside the server, then
# renders it). A stolen service credential reads READS distinct customers of CUSTOMERS; the
# new-service velocity rule raises its alert (dry run, so the reads go on); then, signed in to
# the console with curl:
#  - the scope page, computed (the first view), then from the minute's cache;
#  - the CSV notification list (from the cache);
#  - the same alert's scope by the CLI beside the running server (the baseline).
# BENCHMARKS.md, "Responder console".
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
customers=${BENCH_CUSTOMERS:-200000}
reads=${BENCH_READS:-50000}
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    cargo build --release --bin haechi >&2
fi
haechi="$repo/target/release/haechi"
work=$(mktemp -d)
data="$work/data"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
h() { (cd "$work" && env -u HAECHI_MASTER_KEY -u HAECHI_CONFIG "$haechi" "$@" --data-dir "$data"); }
seconds() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }

echo "== $customers customers, $reads read by a stolen service credential"
h customers generate --count "$customers" --seed 11 --out "$work/customers.jsonl" >/dev/null 2>&1
h customers import "$work/customers.jsonl" >/dev/null 2>&1
rm "$work/customers.jsonl"
python3 -c "import sqlite3, sys
for (id,) in sqlite3.connect(sys.argv[1]).execute('SELECT customer_id FROM customers LIMIT ?', (int(sys.argv[2]),)): print(id)" \
    "$data/haechi.db" "$reads" > "$work/ids.txt"
cat > "$data/policy.toml" <<'POLICY'
[[grant]]
service = "export"
purposes = ["support"]
fields = ["*"]
access = "masked"

[quota]
masked = 100000000
POLICY
service=$(h service create export --purposes support 2>/dev/null)
admin=$(h admin create oncall 2>/dev/null)
field() { echo "$1" | sed -n "s/^$2=//p"; }
(cd "$work" && env -u HAECHI_MASTER_KEY -u HAECHI_CONFIG HAECHI_LOG=warn HAECHI_DETECT__RESPONSE=dry_run \
    "$haechi" serve --listen 127.0.0.1:0 --data-dir "$data" > "$work/serve.log" 2>&1) &
pids+=($!)
for _ in $(seq 1 600); do grep -q "listening on" "$work/serve.log" && break; sleep 0.1; done
base=$(sed -n 's/^haechi listening on //p' "$work/serve.log")
token() { curl -s -u "$1:$2" -d grant_type=client_credentials "$base/v1/oauth/token" | jq -r .access_token; }
thief=$(token "$(field "$service" client_id)" "$(field "$service" client_secret)")
admin_token=$(token "$(field "$admin" client_id)" "$(field "$admin" client_secret)")

# The reads: 4 connections over the id list, each id once.
start=$(date +%s.%N)
xargs -P 4 -n 500 sh -c 'for id; do curl -s -o /dev/null -H "authorization: Bearer $0" "$1/v1/customers/$id?purpose=support"; done' \
    "$thief" "$base" < "$work/ids.txt" 2>/dev/null || true
end=$(date +%s.%N)
echo "reads done in $(seconds "$start" "$end") s"
alert=""
for _ in $(seq 1 100); do
    alert=$(curl -s -H "authorization: Bearer $admin_token" "$base/v1/admin/alerts?rule=haechi.service.new_velocity" | jq -r '.alerts[0].id // empty')
    [ -n "$alert" ] && break
    sleep 0.1
done
[ -n "$alert" ] || { echo "no alert"; exit 1; }
echo "alert $alert; live log $(du -sh "$data/audit" | cut -f1)"

# The console's session, as a browser's form post makes it.
cookie=$(curl -s -o /dev/null -D - -H 'sec-fetch-site: same-origin' \
    --data-urlencode "client_id=$(field "$admin" client_id)" \
    --data-urlencode "client_secret=$(field "$admin" client_secret)" "$base/console/login" |
    tr -d '\r' | sed -n 's/^set-cookie: \(__Host-haechi-console=[^;]*\).*/\1/Ip')
[ -n "$cookie" ] || { echo "no console session"; exit 1; }
encoded=$(python3 -c "import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=''))" "$alert")
page() { curl -s -o "$2" -w '%{http_code} %{time_total}\n' -H "cookie: $cookie" "$base$1"; }

read -r status first < <(page "/console/alert/scope?id=$encoded" "$work/scope.html")
[ "$status" = 200 ] || { echo "scope page: $status"; exit 1; }
exposed=$(grep -o 'id="exposed-count">[0-9]*' "$work/scope.html" | grep -o '[0-9]*$')
read -r _ cached < <(page "/console/alert/scope?id=$encoded" /dev/null)
read -r _ export < <(page "/console/alert/scope.csv?id=$encoded" "$work/list.csv")
start=$(date +%s.%N)
h scope --alert "$alert" --format json > "$work/cli.json" 2>/dev/null
end=$(date +%s.%N)
cli_customers=$(jq .summary.customers "$work/cli.json")
echo "customers exposed: console $exposed, CLI $cli_customers, CSV rows $(( $(wc -l < "$work/list.csv") - 1 ))"
echo "baseline: haechi scope --alert (CLI)    $(seconds "$start" "$end") s"
echo "console: scope page, computed           ${first} s"
echo "console: scope page, from the cache     ${cached} s"
echo "console: CSV notification list          ${export} s ($(du -h "$work/list.csv" | cut -f1))"
