#!/usr/bin/env bash
# Live alert latency (issue 5): event durable → alert visible on the SSE stream, p50/p99, under
# a background load of audited requests. Starts a release `haechi serve` on a fresh data dir with
# the built-in pack plus one probe rule, then runs examples/detect_latency.rs against it (the
# server and the load share the machine's cores).
#
# Settings: BENCH_PROBES (200) BENCH_PROBE_INTERVAL_MS (100) BENCH_BACKGROUND_RPS (500)
#           BENCH_SKIP_BUILD (unset). Needs curl and jq.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)

work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    cargo build --release --bin haechi --example detect_latency >&2
fi
haechi="$repo/target/release/haechi"
export HAECHI_DATA_DIR="$work/data"
export HAECHI_LOG=warn

mkdir -p "$HAECHI_DATA_DIR/rules"
cat > "$HAECHI_DATA_DIR/rules/probe.yaml" <<'EOF'
id: bench.latency_probe
title: Latency probe
description: One alert per refused token whose user agent starts with probe- (benchmark only).
false_positives: Every one; this rule exists for the latency benchmark.
severity: low
fields: [user_agent]
detection:
  probe:
    kind: token.rejected
    user_agent|startswith: probe-
  condition: probe
group-by: [user_agent]
EOF
credential=$("$haechi" admin create bench)
client_id=$(echo "$credential" | sed -n 's/^client_id=//p')
client_secret=$(echo "$credential" | sed -n 's/^client_secret=//p')

"$haechi" serve --listen 127.0.0.1:0 > "$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 200); do
    base=$(sed -n 's/^haechi listening on //p' "$work/serve.log")
    [ -n "$base" ] && break
    sleep 0.1
done
[ -n "$base" ] || { cat "$work/serve.log" >&2; exit 1; }
token=$(curl -sf -u "$client_id:$client_secret" -d grant_type=client_credentials "$base/v1/oauth/token" | jq -r .access_token)

BENCH_BASE="$base" BENCH_ADMIN_TOKEN="$token" "$repo/target/release/examples/detect_latency"
