#!/usr/bin/env bash
# Runs benches/token_verify.rs and prints its results with the ratios to the baseline (bare
# signature verification of the same tokens) as a Markdown table. Needs jq.
# HAECHI_BENCH_TOKENS sets how many tokens are issued (default 10 000).

set -euo pipefail

cd "$(dirname "$0")/../.."
cargo build --release --bench token_verify >&2 2>/dev/null || true
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
cargo bench --bench token_verify >&2

estimate() {
    jq '(.slope // .mean).point_estimate' "target/criterion/token_verify/$1/new/estimates.json"
}
warm=$(estimate warm)
first_use=$(estimate first_use)
bare=$(estimate bare_signature)

row() {
    awk -v name="$1" -v ns="$2" -v base="$bare" 'BEGIN {
        printf "| %s | %.2f | %.0f | %.2f |\n", name, ns / 1000, 1e9 / ns, base / ns
    }'
}

echo
echo "Token verification, one thread (per core), ${HAECHI_BENCH_TOKENS:-10000} tokens; load average before: $load_before."
echo
echo "| Measurement | µs per token | tokens/s per core | throughput / baseline |"
echo "| --- | ---: | ---: | ---: |"
row "(a) \`verify\`, warm (signature already checked in this process)" "$warm"
row "(b) \`verify\`, first use on a freshly opened authority (signature + ledger)" "$first_use"
row "(c) baseline: bare \`PublicKey::verify\` (jsonwebtoken, Ed25519)" "$bare"
