#!/usr/bin/env bash
# The auditor's evidence report on a large data directory, each phase beside a baseline
# measured in the same run:
#  1. the trail folded (every record decoded and observed) beside `haechi audit verify`, which
#     reads and hashes the same records and checks their signed checkpoints;
#  2. the plaintext scan of the data directory beside reading the same bytes (`cat`);
#  3. the whole `haechi evidence --from --to --out` (HTML, JSON, signatures; no PDF), and
#     `haechi evidence review --month` (one month's fold).
# The trail: N customers imported (one pii.write each) plus the import's own records.
# BENCHMARKS.md, "Auditor evidence".
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
customers=${BENCH_CUSTOMERS:-300000}
cargo build --release --bin haechi >&2
haechi="$repo/target/release/haechi"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
h() { (cd "$work" && env -u HAECHI_MASTER_KEY -u HAECHI_CONFIG "$haechi" "$@" --data-dir "$work/data"); }
seconds() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }

echo "== $customers customers"
h customers generate --count "$customers" --seed 7 --out "$work/customers.jsonl" 2>/dev/null
h customers import "$work/customers.jsonl" >/dev/null 2>&1
rm "$work/customers.jsonl"
today=$(TZ=Asia/Seoul date +%F)
month=$(TZ=Asia/Seoul date +%Y-%m)
du -sh "$work/data" | sed 's/^/data directory: /'

start=$(date +%s.%N)
h audit verify >/dev/null 2>&1 || true
end=$(date +%s.%N)
echo "baseline: haechi audit verify          $(seconds "$start" "$end") s"

start=$(date +%s.%N)
find "$work/data" -type f -exec cat {} + >/dev/null
end=$(date +%s.%N)
echo "baseline: cat every file of the dir     $(seconds "$start" "$end") s"

start=$(date +%s.%N)
h evidence review --month "$month" >/dev/null 2>&1
end=$(date +%s.%N)
echo "haechi evidence review --month          $(seconds "$start" "$end") s"

start=$(date +%s.%N)
HAECHI_LOG=haechi_server::evidence=info h evidence --from "$today" --to "$today" --out "$work/out" \
    --pdf never --quiet >/dev/null 2>"$work/evidence.log"
end=$(date +%s.%N)
echo "haechi evidence (whole report)          $(seconds "$start" "$end") s"
python3 - "$work/evidence.log" <<'PY'
import re, sys
ansi = re.compile(r"\x1b\[[0-9;]*m")
line = ansi.sub("", next(l for l in open(sys.argv[1]) if "evidence gathered" in l))
fields = dict(re.findall(r"(\w+)=(\d+)", line))
records, scan_bytes = int(fields["records"]), int(fields["scan_bytes"])
fold, verify, scan = (int(fields[k]) / 1000 for k in ("fold_ms", "verify_ms", "scan_ms"))
print(f"  fold    {fold:6.2f} s  {records / fold / 1e6:5.2f} M records/s ({records} records)")
print(f"  verify  {verify:6.2f} s  {records / verify / 1e6:5.2f} M records/s")
print(f"  scan    {scan:6.2f} s  {scan_bytes / scan / 2**20:6.1f} MiB/s ({scan_bytes / 2**20:.0f} MiB)")
PY
