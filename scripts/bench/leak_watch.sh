#!/usr/bin/env bash
# What watching costs over matching by hand (BENCHMARKS.md, "Leak watch service"), in one run
# on one data directory of BENCH_CUSTOMERS generated customers:
#  1. `haechi leak match DUMP` — the baseline: the pipeline alone;
#  2. the same dump dropped into a watched directory and taken by `haechi leak watch --once`:
#     listing, reading, the digest, the pipeline, the item's record, the state;
#  3. BENCH_ITEMS small items (a paste each, 20 rows) in one poll: items per second;
#  4. the same items again: recognised by digest, nothing matched — the cost of a poll that
#     finds only old material;
#  5. BENCH_LEDGER finished entries put into the ledger (SQLite, as a year of a busy source
#     would leave), then BENCH_ITEMS new pastes: items per second beside step 3's, and what
#     the earlier design (a JSON state of 200,000 digests and keys rewritten and fsynced after
#     every item) paid per item, measured here too.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
customers=${BENCH_CUSTOMERS:-100000}
items=${BENCH_ITEMS:-200}
ledger=${BENCH_LEDGER:-1000000}
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    cargo build --release --bin haechi >&2
fi
haechi="$repo/target/release/haechi"
work=$(mktemp -d)
trap '[ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"' EXIT
cd "$work"
h() { env -u HAECHI_MASTER_KEY -u HAECHI_CONFIG HAECHI_LOG=error "$haechi" "$@" --data-dir "$work/data"; }
h customers generate --count "$customers" --seed 7 --out customers.jsonl >/dev/null 2>&1
h customers import customers.jsonl >/dev/null 2>&1
# The dump: every fifth customer's e-mail and phone, and as many strangers.
{
    echo "email,phone"
    jq -r 'select(input_line_number % 5 == 0) | [.email, .phone] | @csv' customers.jsonl
    seq 1 $((customers / 5)) | awk '{printf "\"stranger%d@example.org\",\"010-%04d-%04d\"\n", $1, $1 % 10000, ($1 * 7) % 10000}'
} > dump.csv
rows=$(($(wc -l < dump.csv) - 1))
seconds() { python3 -c 'import sys,time; print(f"{time.time():.3f}")'; }

start=$(seconds); h leak match dump.csv > match.txt 2>/dev/null || true; end=$(seconds)
match_s=$(python3 -c "print(f'{$end - $start:.2f}')")

mkdir drop
cat > haechi.toml <<TOML
[leakwatch]
interval = "10m"
items_per_poll = 10000
[[leakwatch.source]]
name = "bench"
directory = "$work/drop"
TOML
cp dump.csv drop/dump.csv
touch -d '-5 seconds' drop/dump.csv
start=$(seconds); h leak watch --once > watch.txt 2>/dev/null; end=$(seconds)
watch_s=$(python3 -c "print(f'{$end - $start:.2f}')")

for n in $(seq 1 "$items"); do
    sed -n "$((n * 20 + 2)),$((n * 20 + 21))p" dump.csv | sed "1i email,phone" > "drop/paste-$n.csv"
done
touch -d '-5 seconds' drop/paste-*.csv
start=$(seconds); h leak watch --once > small.txt 2>/dev/null; end=$(seconds)
small_s=$(python3 -c "print(f'{$end - $start:.2f}')")
for n in $(seq 1 "$items"); do cp "drop/paste-$n.csv" "drop/again-$n.csv"; done
touch -d '-5 seconds' drop/again-*.csv
start=$(seconds); h leak watch --once > again.txt 2>/dev/null; end=$(seconds)
again_s=$(python3 -c "print(f'{$end - $start:.2f}')")

# 5. A ledger of $ledger entries (digests and keys of another time), then new pastes.
python3 - "$work/data/haechi.db" "$ledger" <<'PY'
import hashlib, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n = int(sys.argv[2])
at = 1_700_000_000_000_000
db.executemany("INSERT INTO leak_watch_digests (source, digest, at) VALUES ('bench', ?, ?)",
               ((hashlib.sha256(b"old-%d" % i).hexdigest(), at) for i in range(n)))
db.executemany("INSERT INTO leak_watch_fetched (source, key, at) VALUES ('bench', ?, ?)",
               (("old-%d.csv|1234|%d" % (i, i), at) for i in range(n)))
db.commit()
PY
for n in $(seq 1 "$items"); do
    sed -n "$((n * 20 + 12)),$((n * 20 + 31))p" dump.csv | sed "1i email,phone" > "drop/late-$n.csv"
done
touch -d '-5 seconds' drop/late-*.csv
start=$(seconds); h leak watch --once > late.txt 2>/dev/null; end=$(seconds)
late_s=$(python3 -c "print(f'{$end - $start:.2f}')")
# The earlier design's per-item state write, at its 200,000-entry bound per kind.
json_ms=$(python3 - <<'PY'
import hashlib, json, os, time
state = {"sources": {"bench": {
    "digests": [hashlib.sha256(b"%d" % i).hexdigest() for i in range(200_000)],
    "fetched": ["paste-%d.csv|1234|1765000000000000000" % i for i in range(200_000)]}}}
runs = 10
start = time.time()
for _ in range(runs):
    with open("state.json.new", "wb") as f:
        f.write(json.dumps(state).encode())
        f.flush(); os.fsync(f.fileno())
    os.rename("state.json.new", "state.json")
print(f"{(time.time() - start) / runs * 1000:.0f}")
PY
)

echo "== $customers customers; dump of $rows rows (1 in 2 a customer)"
echo "leak match (baseline)           ${match_s} s   $(grep -m1 -o '[0-9]* customers' match.txt || true)"
echo "leak watch --once, same dump    ${watch_s} s   $(cat watch.txt)"
echo "== $items pastes of 20 rows in one poll"
echo "new items                       ${small_s} s   $(python3 -c "print(f'{$items / $small_s:.1f}')") items/s   $(cat small.txt)"
echo "the same items again            ${again_s} s   $(python3 -c "print(f'{$items / $again_s:.1f}')") items/s   $(cat again.txt)"
echo "== the ledger holding $ledger more entries of the source"
echo "new items                       ${late_s} s   $(python3 -c "print(f'{$items / $late_s:.1f}')") items/s   $(cat late.txt)"
echo "a JSON state of 200,000 digests and keys, rewritten and fsynced: ${json_ms} ms per item"
