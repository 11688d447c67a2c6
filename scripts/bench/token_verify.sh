#!/usr/bin/env bash
# Runs benches/token_verify.rs and prints its results with the ratios to the baseline (bare
# signature verification of the same tokens) as a Markdown table. Needs jq.
# HAECHI_BENCH_TOKENS sets how many tokens are issued (default 10 000).

set -euo pipefail

paired_file=$(mktemp)
trap 'rm -f "$paired_file"' EXIT

cd "$(dirname "$0")/../.."
cargo bench --no-run --bench token_verify >&2
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
cargo bench --bench token_verify | tee /dev/stderr | sed -n 's/^PAIRED //p' >"$paired_file"
paired=$(cat "$paired_file")
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$paired"; }

estimate() {
    jq '(.slope // .mean).point_estimate' "target/criterion/token_verify/$1/new/estimates.json"
}
warm=$(estimate warm)
first_use=$(estimate first_use)
bare=$(estimate bare_signature)

row() {
    awk -v name="$1" -v ns="$2" -v base="$bare" -v pns="$3" -v pratio="$4" 'BEGIN {
        printf "| %s | %.2f | %.0f | %.2f | %.2f | %.2f |\n", name, ns / 1000, 1e9 / ns, base / ns, pns / 1000, pratio
    }'
}

echo
echo "Token verification, one thread (per core), ${HAECHI_BENCH_TOKENS:-10000} tokens; load average before: $load_before."
echo "Criterion: each measurement on its own; interleaved: each token verified under (a), (b), (c) back to back, each call timed; medians over $(field rounds) rounds of $(field batch) tokens."
echo
echo "| Measurement | µs per token (criterion) | tokens/s per core | throughput / baseline | µs per token (interleaved) | throughput / baseline (interleaved) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
row "(a) \`verify\`, warm (signature already checked in this process)" "$warm" "$(field warm_ns)" "$(field warm_ratio)"
row "(b) \`verify\`, first use on a freshly opened authority (signature + ledger)" "$first_use" "$(field first_use_ns)" "$(field first_use_ratio)"
row "(c) baseline: bare \`PublicKey::verify\` (jsonwebtoken, Ed25519)" "$bare" "$(field bare_ns)" 1
