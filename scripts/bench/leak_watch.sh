#!/usr/bin/env bash
# What watching costs over matching by hand (BENCHMARKS.md, "Leak watch service"), in one run
# on one data directory of BENCH_CUSTOMERS generated customers:
#  1. `haechi leak match DUMP` — the baseline: the pipeline alone;
#  2. the same dump dropped into a watched directory and taken by `haechi leak watch --once`:
#     listing, reading, the digest, the pipeline, the item's record, the state;
#  3. BENCH_ITEMS small items (a paste each, 20 rows) in one poll: items per second;
#  4. the same items again: recognised by digest, nothing matched — the cost of a poll that
#     finds only old material.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
customers=${BENCH_CUSTOMERS:-100000}
items=${BENCH_ITEMS:-200}
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
interval = "1s"
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

echo "== $customers customers; dump of $rows rows (1 in 2 a customer)"
echo "leak match (baseline)           ${match_s} s   $(grep -m1 -o '[0-9]* customers' match.txt || true)"
echo "leak watch --once, same dump    ${watch_s} s   $(cat watch.txt)"
echo "== $items pastes of 20 rows in one poll"
echo "new items                       ${small_s} s   $(python3 -c "print(f'{$items / $small_s:.1f}')") items/s   $(cat small.txt)"
echo "the same items again            ${again_s} s   $(python3 -c "print(f'{$items / $again_s:.1f}')") items/s   $(cat again.txt)"
