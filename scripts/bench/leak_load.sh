#!/usr/bin/env bash
# Leak-watch benchmarks for issue 8, all on this machine (loopback only), in one run:
#
#   1. import BENCH_CUSTOMERS generated customers (haechi customers generate | import);
#   2. `haechi leak match` on a generated CSV dump of BENCH_ROWS rows, BENCH_SHARE % of them
#      customers in perturbed spellings, the rest strangers (examples/leak_dump.rs): wall
#      time, rows/s, peak RSS (GNU time);
#   3. `haechi leak scan` on BENCH_SCAN_MB MiB of mixed text (the labelled corpus repeated):
#      MiB/s;
#   4. wrk against GET /v1/exposure/range/{prefix} — random prefixes, random X-Forwarded-For
#      (a crowd, as in a panic; the server trusts the header for this run only), unpadded and
#      padded, and a fixed prefix (memory cache) — beside the bare axum handler
#      (examples/bare_axum.rs) under the same script, same settings, same run.
#
# Settings: BENCH_CUSTOMERS (1000000) BENCH_ROWS (10000000) BENCH_SHARE (10) BENCH_INDEX (auto)
#           BENCH_SCAN_MB (200) BENCH_THREADS (2) BENCH_CONNECTIONS (64) BENCH_DURATION (10s)
#           BENCH_WARMUP (3s) BENCH_SKIP_BUILD (unset) BENCH_TARGET_DIR (target)
#           BENCH_WORK (a fresh temporary directory; give one to keep the imported customers
#           between runs)
# Needs wrk, GNU time (/usr/bin/time), curl.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
customers=${BENCH_CUSTOMERS:-1000000}
rows=${BENCH_ROWS:-10000000}
share=${BENCH_SHARE:-10}
scan_mb=${BENCH_SCAN_MB:-200}
threads=${BENCH_THREADS:-2}
connections=${BENCH_CONNECTIONS:-64}
duration=${BENCH_DURATION:-10s}
warmup=${BENCH_WARMUP:-3s}
target=${BENCH_TARGET_DIR:-$repo/target}
index=${BENCH_INDEX:-auto}

for tool in wrk curl /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 1; }
done
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    CARGO_TARGET_DIR="$target" cargo build --release --bin haechi --example bare_axum \
        --example leak_dump >&2
fi
haechi="$target/release/haechi"
bare="$target/release/examples/bare_axum"
dumper="$target/release/examples/leak_dump"

work=${BENCH_WORK:-$(mktemp -d)}
mkdir -p "$work"
data="$work/data"
server_pid=""
bare_pid=""
cleanup() {
    local status=$?
    set +e
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
    if [ -n "$bare_pid" ]; then kill "$bare_pid" 2>/dev/null; wait "$bare_pid" 2>/dev/null; fi
    if [ -z "${BENCH_WORK:-}" ]; then rm -rf "$work"; fi
    exit "$status"
}
trap cleanup EXIT
run_haechi() {
    (cd "$work" && env -u HAECHI_MASTER_KEY -u HAECHI_CONFIG "$@")
}
seconds_of() { awk -v s="$1" 'BEGIN { printf "%.1f", s }'; }

# 1. Customers (kept when BENCH_WORK is reused).
if [ ! -f "$work/imported-$customers" ]; then
    rm -rf "$data"
    echo "== generating and importing $customers customers" >&2
    run_haechi "$haechi" customers generate --count "$customers" --seed 1 --out "$work/customers.jsonl"
    start=$(date +%s.%N)
    run_haechi "$haechi" customers import "$work/customers.jsonl" --batch 10000 --data-dir "$data" >&2
    end=$(date +%s.%N)
    rm -f "$work/customers.jsonl"
    echo "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" >"$work/imported-$customers"
fi
import_seconds=$(cat "$work/imported-$customers")

# 2. leak match.
echo "== generating a dump of $rows rows ($share % customers)" >&2
"$dumper" "$rows" "$customers" "$share" >"$work/dump.csv"
dump_bytes=$(stat -c %s "$work/dump.csv")
echo "== leak match" >&2
run_haechi /usr/bin/time -v -o "$work/match.time" "$haechi" leak match "$work/dump.csv" \
    --index "$index" --out "$work/matches.csv" --data-dir "$data" \
    >"$work/match.out" 2>"$work/match.err" || {
    cat "$work/match.err" >&2
    exit 1
}
cat "$work/match.out" >&2
match_wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/match.time")
match_rss_kib=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/match.time")
match_cpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.1f", s }' "$work/match.time")
match_line=$(grep '^read ' "$work/match.out")
matched_line=$(grep '^matched ' "$work/match.out")
vault_line=$(grep '^vault (' "$work/match.out")
rm -f "$work/dump.csv"

# 3. leak scan.
echo "== leak scan on $scan_mb MiB" >&2
corpus=$(cat "$repo"/crates/leak/tests/corpus/*.txt | grep -v '^#')
: >"$work/scan.txt"
while [ "$(stat -c %s "$work/scan.txt")" -lt $((scan_mb * 1024 * 1024)) ]; do
    for _ in $(seq 1 200); do printf '%s\n' "$corpus"; done >>"$work/scan.txt"
done
scan_bytes=$(stat -c %s "$work/scan.txt")
start=$(date +%s.%N)
"$haechi" leak scan "$work/scan.txt" >"$work/scan.out" 2>"$work/scan.err"
end=$(date +%s.%N)
scan_seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')
scan_findings=$(wc -l <"$work/scan.out")
rm -f "$work/scan.txt" "$work/scan.out"

# 4. The range API.
(cd "$work" && exec env -u HAECHI_MASTER_KEY -u HAECHI_CONFIG \
    HAECHI_SERVER__TRUSTED_PROXIES='["127.0.0.0/8"]' \
    "$haechi" serve --listen 127.0.0.1:0 --data-dir "$data") >"$work/serve.log" 2>&1 &
server_pid=$!
"$bare" 0 >"$work/bare.log" 2>&1 &
bare_pid=$!
wait_for_address() {
    local file=$1 name=$2
    for _ in $(seq 1 300); do
        local address
        address=$(sed -n "s/^$name listening on http:\/\///p" "$file" | head -n1)
        if [ -n "$address" ]; then echo "$address"; return 0; fi
        sleep 0.1
    done
    echo "error: $name did not start" >&2
    cat "$file" >&2
    return 1
}
haechi_address=$(wait_for_address "$work/serve.log" haechi)
bare_address=$(wait_for_address "$work/bare.log" bare_axum)
lua="$repo/scripts/bench/wrk_range.lua"
run_wrk() {
    wrk -t"$threads" -c"$connections" -d"$2" --timeout 5s --latency -s "$lua" "$1" |
        tee -a "$work/wrk.log" | sed -n 's/^RESULT //p'
}
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }
measure() {
    run_wrk "$1" "$warmup" >/dev/null
    run_wrk "$1" "$duration"
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== wrk: random prefixes" >&2
random=$(measure "http://$haechi_address")
bare_random=$(measure "http://$bare_address")
echo "== wrk: random prefixes, Add-Padding" >&2
padded=$(BENCH_PADDING=true measure "http://$haechi_address")
echo "== wrk: one prefix (cached)" >&2
fixed=$(BENCH_PREFIX=5BAA6 measure "http://$haechi_address")
bare_fixed=$(BENCH_PREFIX=5BAA6 measure "http://$bare_address")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
row() {
    echo "| $1 | $(field rps "$2") | $(field p50_ms "$2") | $(field p99_ms "$2") | $(field non2xx "$2") | $(ratio "$(field rps "$2")" "$(field rps "$3")") |"
}
cat <<EOF

Leak watch, $(nproc) cores shared by everything; load average before the HTTP runs: $load_before.

| measure | value |
|---|---|
| customers imported | $customers in $(seconds_of "$import_seconds") s ($(awk -v n="$customers" -v s="$import_seconds" 'BEGIN { printf "%.0f", n / s }')/s) |
| dump | $rows rows, $(awk -v b="$dump_bytes" 'BEGIN { printf "%.0f", b / 1048576 }') MiB, $share % customers |
| \`leak match\` wall | $match_wall (CPU $match_cpu s) |
| \`leak match\` peak RSS | $(awk -v k="$match_rss_kib" 'BEGIN { printf "%.0f", k / 1024 }') MiB |
| \`leak match\` output | $match_line |
| | $matched_line |
| | $vault_line |
| \`leak scan\` | $(awk -v b="$scan_bytes" 'BEGIN { printf "%.0f", b / 1048576 }') MiB in $(seconds_of "$scan_seconds") s = $(awk -v b="$scan_bytes" -v s="$scan_seconds" 'BEGIN { printf "%.1f", b / 1048576 / s }') MiB/s, $scan_findings findings |

wrk -t$threads -c$connections, $duration after a $warmup warm-up each:

| endpoint | req/s | p50 ms | p99 ms | non-2xx | vs bare axum |
|---|---|---|---|---|---|
$(row "bare axum, constant JSON (baseline), random paths" "$bare_random" "$bare_random")
$(row "\`GET /v1/exposure/range/{random}\`" "$random" "$bare_random")
$(row "\`GET /v1/exposure/range/{random}\`, \`Add-Padding: true\`" "$padded" "$bare_random")
$(row "bare axum, one path (baseline)" "$bare_fixed" "$bare_fixed")
$(row "\`GET /v1/exposure/range/5BAA6\` (cached)" "$fixed" "$bare_fixed")
EOF
