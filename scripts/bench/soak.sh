#!/usr/bin/env bash
# Memory soak for issue 13 (item 14), all on this machine (loopback only): masked service reads
# over SOAK_CUSTOMERS customers, first for SOAK_PEAK_DURATION as fast as wrk can (the peak),
# then for SOAK_DURATION at about half of that rate (each wrk connection paced with delay()),
# while the server's RSS is sampled every SOAK_INTERVAL seconds into a CSV:
#
#   seconds,phase,rss_kib,hwm_kib
#
# A measurement, not a test: it prints the peak rate, the soak rate, RSS at the start and end
# of the soak and its largest value, and the RSS change over the soak's second half (flat
# memory shows as a change near zero). The CSV is kept at SOAK_CSV.
#
# Settings: SOAK_CUSTOMERS (200) SOAK_CONNECTIONS (16) SOAK_THREADS (2) SOAK_DURATION (600s)
#           SOAK_PEAK_DURATION (10s) SOAK_INTERVAL (5) SOAK_CSV (./soak-rss.csv)
#           BENCH_SKIP_BUILD (unset: cargo build --release first). Needs wrk, curl, jq, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
customers=${SOAK_CUSTOMERS:-200}
connections=${SOAK_CONNECTIONS:-16}
threads=${SOAK_THREADS:-2}
duration=${SOAK_DURATION:-600s}
peak_duration=${SOAK_PEAK_DURATION:-10s}
interval=${SOAK_INTERVAL:-5}
csv=${SOAK_CSV:-$repo/soak-rss.csv}
haechi=${SOAK_HAECHI:-$repo/target/release/haechi}

for tool in wrk curl jq python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is not installed (apt-get install -y $tool)" >&2; exit 1; }
done
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    cargo build --release --bin haechi >&2
fi

work=$(mktemp -d)
data="$work/data"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
run_haechi() { (cd "$work" && env -u HAECHI_MASTER_KEY -u HAECHI_CONFIG "$haechi" "$@" --data-dir "$data"); }

echo "== $customers customers" >&2
run_haechi customers generate --count "$customers" --seed 1 --out "$work/customers.jsonl" >&2
run_haechi customers import "$work/customers.jsonl" >&2
python3 -c "import sqlite3, sys
for (id,) in sqlite3.connect(sys.argv[1]).execute('SELECT customer_id FROM customers'): print(id)" \
    "$data/haechi.db" > "$work/ids.txt"
cat > "$data/policy.toml" <<'POLICY'
[[grant]]
service = "soak"
purposes = ["support"]
fields = ["*"]
access = "masked"

[quota]
masked = 100000000
plaintext = 100000000
customer_requests_per_minute = 100000000
POLICY
service=$(run_haechi service create soak --purposes support 2>/dev/null)
client_id=$(echo "$service" | sed -n 's/^client_id=//p')
client_secret=$(echo "$service" | sed -n 's/^client_secret=//p')

# A fresh service reading every customer each second would be suspended by the new-service
# velocity budget (haechi.service.new_velocity); the rule stays loaded, with room for this
# load, so its state is part of what is measured.
(cd "$work" && env -u HAECHI_MASTER_KEY -u HAECHI_CONFIG HAECHI_LOG=warn \
    HAECHI_DETECT__NEW_SERVICE_CUSTOMERS_PER_MINUTE=$((customers * 10)) \
    "$haechi" serve --listen 127.0.0.1:0 --data-dir "$data" > "$work/serve.log" 2>&1) &
pids+=($!)
for _ in $(seq 1 600); do grep -q "listening on" "$work/serve.log" && break; sleep 0.1; done
base=$(sed -n 's/^haechi listening on //p' "$work/serve.log")
server_pid=$(pgrep -f -n "haechi serve --listen 127.0.0.1:0 --data-dir $data")
token() { curl -s -u "$client_id:$client_secret" -d grant_type=client_credentials "$base/v1/oauth/token" | jq -r .access_token; }

phase=start
echo "seconds,phase,rss_kib,hwm_kib" > "$csv"
started=$(date +%s)
sample() {
    while kill -0 "$server_pid" 2>/dev/null; do
        rss=$(awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status")
        hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$server_pid/status")
        echo "$(( $(date +%s) - started )),$(cat "$work/phase"),$rss,$hwm" >> "$csv"
        sleep "$interval"
    done
}
echo "$phase" > "$work/phase"
sample &
pids+=($!)

wrk_ids() { # DURATION DELAY_MS
    BENCH_IDS_FILE="$work/ids.txt" BENCH_AUTHORIZATION="Bearer $(token)" BENCH_DELAY_MS="$2" \
        wrk -t"$threads" -c"$connections" -d"$1" --latency -s "$repo/scripts/bench/wrk_ids.lua" "$base/" | grep '^RESULT'
}
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

echo "peak" > "$work/phase"
peak=$(wrk_ids "$peak_duration" 0)
peak_rps=$(field "$peak" rps)
# Each connection pauses so that all together make about half the peak: one request every
# c / (peak / 2) s per connection, less the median latency the request itself takes.
peak_p50=$(field "$peak" p50_ms)
delay_ms=$(python3 -c "print(max(1, round($connections * 2000 / $peak_rps - $peak_p50)))")
echo "soak" > "$work/phase"
soak_started=$(( $(date +%s) - started ))
soak=$(wrk_ids "$duration" "$delay_ms")
echo "end" > "$work/phase"
sleep "$interval"

python3 - "$csv" "$soak_started" <<'SUMMARY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["phase"] == "soak"]
start = int(sys.argv[2])
rss = [(int(r["seconds"]), int(r["rss_kib"])) for r in rows]
if not rss:
    sys.exit("no soak samples")
half = rss[len(rss) // 2][0]
second_half = [value for t, value in rss if t >= half]
print(f"soak RSS: start {rss[0][1] / 1024:.1f} MiB, end {rss[-1][1] / 1024:.1f} MiB, "
      f"max {max(v for _, v in rss) / 1024:.1f} MiB; second half {second_half[0] / 1024:.1f} -> "
      f"{second_half[-1] / 1024:.1f} MiB ({(second_half[-1] - second_half[0]) / 1024:+.1f} MiB)")
SUMMARY
echo "peak: $peak"
echo "soak (delay ${delay_ms} ms a connection): $soak"
echo "samples: $csv"
