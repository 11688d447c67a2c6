#!/usr/bin/env bash
# Breach notices at scale, each number beside a baseline measured in the same run:
#  1. `haechi notify --queue-only`: notices queued a second (N customers, LMS and e-mail);
#  2. `haechi notify --deliver-only`: the courier — claim, decrypt the contact (recorded as a
#     pii.read), seal (code recorded in the outbox), hand over, record notice.sent — with the
#     LMS going to an SMS gateway's webhook (`bare_axum`, answering 200 at once) and the
#     e-mails to the JSON-lines file sink; baseline: wrk posting the same-sized JSON to the
#     same `bare_axum` (what the receiver takes from a bare load generator);
#  3. `POST /v1/notices/verify` with a genuine e-mail text (a code lookup, the MAC, the text
#     rendered again) and with smishing (no code: the recogniser's reading), beside
#     `bare_axum` answering the same POST.
# BENCHMARKS.md, "Breach notices".
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
customers=${BENCH_CUSTOMERS:-20000}
duration=${BENCH_DURATION:-8s}
for tool in wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 1; }
done
cargo build --release --bin haechi --example bare_axum >&2
haechi="$repo/target/release/haechi"
bare="$repo/target/release/examples/bare_axum"
work=$(mktemp -d)
pids=()
cleanup() {
    set +e
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
wait_for_address() {
    for _ in $(seq 1 200); do
        local address
        address=$(sed -n "s/^$2 listening on http:\/\///p" "$1" | head -n1)
        if [ -n "$address" ]; then echo "$address"; return 0; fi
        sleep 0.1
    done
    cat "$1" >&2
    return 1
}
"$bare" 0 >"$work/bare.log" 2>&1 &
pids+=($!)
bare_address=$(wait_for_address "$work/bare.log" bare_axum)

printf 'bench-gateway-secret-0123456789' >"$work/gateway.secret"
cat >"$work/haechi.toml" <<EOF
[notice]
company = "해치몰"
portal_origin = "https://portal.haechi-mall.co.kr"
contact_numbers = ["1588-1234"]
cause = "유출된 서명 키로 만든 위조 토큰을 이용해 고객 정보가 조회되었습니다."
measures = "해당 서명 키를 폐기하고 접근을 차단했습니다."
channels = ["lms", "email"]
concurrency = 64
dangerous_plaintext_file = "$work/email.jsonl"

[notice.webhook]
url = "http://$bare_address/send"
secret_file = "$work/gateway.secret"
per_second = 1000000

[notice.verify]
per_source_per_second = 1000000.0
burst = 1000000
global_per_second = 1000000.0
EOF
h() { (cd "$work" && env -u HAECHI_MASTER_KEY HAECHI_CONFIG="$work/haechi.toml" "$haechi" "$@" --data-dir "$work/data"); }

echo "== $customers customers"
h customers generate --count "$customers" --seed 7 --out "$work/customers.jsonl" 2>/dev/null
h customers import "$work/customers.jsonl" --ids-out "$work/ids.tsv" >/dev/null 2>&1
awk -F'\t' '{printf "{\"customer_id\":\"%s\",\"fields\":[\"name\",\"phone\",\"addresses\"],\"first\":\"2025-06-24T01:00:00Z\",\"last\":\"2025-11-08T01:00:00Z\",\"reads\":3}\n", $2}' \
    "$work/ids.tsv" >"$work/affected.jsonl"
incident=$(h incident create --from "$work/affected.jsonl" --quiet 2>/dev/null)

start=$(date +%s.%N)
h notify --incident "$incident" --queue-only --quiet 2>"$work/queue.log"
end=$(date +%s.%N)
python3 - "$start" "$end" "$((customers * 2))" <<'PY'
import sys
start, end, notices = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
print(f"queue: {notices} notices in {end - start:.2f} s (process included): {notices / (end - start):,.0f} notices/s")
PY
h notify --deliver-only --quiet 2>"$work/deliver.log" || true
sed -n 's/^delivered/deliver: delivered/p; s/^  \(lms\|email\)/  \1/p' "$work/deliver.log"

body=$(python3 -c 'import json; print(json.dumps({"notice_id":"NT-0123456789abcdef","channel":"lms","to":"01012345678","subject":None,"text":"x"*700,"code":"HC-7K2M-9QXD"}))')
run() {
    local name=$1 url=$2 payload=$3
    BENCH_BODY="$payload" BENCH_CONTENT_TYPE=application/json \
        wrk -t2 -c64 -d2s -s scripts/bench/wrk_post.lua "$url" >/dev/null 2>&1 || true
    BENCH_BODY="$payload" BENCH_CONTENT_TYPE=application/json \
        wrk -t2 -c64 -d"$duration" -s scripts/bench/wrk_post.lua "$url" >"$work/out" 2>&1
    printf '%-44s %s\n' "$name" "$(grep '^RESULT' "$work/out" | sed 's/^RESULT //')"
}
echo "== the gateway's side: bare_axum taking the same POSTs from wrk (baseline)"
run "POST bare_axum /send (baseline)" "http://$bare_address/send" "$body"

(cd "$work" && exec env -u HAECHI_MASTER_KEY HAECHI_CONFIG="$work/haechi.toml" \
    "$haechi" serve --listen 127.0.0.1:0 --data-dir "$work/data") >"$work/serve.log" 2>&1 &
pids+=($!)
haechi_address=$(wait_for_address "$work/serve.log" haechi)
genuine=$(python3 -c 'import json,sys; line=open(sys.argv[1]).readline(); print(json.dumps({"text": json.loads(line)["text"]}))' "$work/email.jsonl")
smishing=$(python3 -c 'import json; print(json.dumps({"text": "[Web발신]\n[해치몰] 개인정보 유출 피해보상금 신청 대상입니다. https://haechimall-refund.top 에서 카드번호 입력 후 신청하세요. 문의 010-9876-5432"}))')
check=$(curl -s -X POST -H 'content-type: application/json' -d "$genuine" "http://$haechi_address/v1/notices/verify" | python3 -c 'import json,sys; print(json.load(sys.stdin)["verdict"])')
[ "$check" = genuine ] || { echo "error: the benchmark's genuine text verified as $check" >&2; exit 1; }
echo "== POST /v1/notices/verify"
run "bare_axum, the same body (baseline)" "http://$bare_address/verify" "$genuine"
run "verify: a genuine e-mail (code, MAC, render)" "http://$haechi_address/v1/notices/verify" "$genuine"
run "verify: smishing (no code, recogniser)" "http://$haechi_address/v1/notices/verify" "$smishing"
