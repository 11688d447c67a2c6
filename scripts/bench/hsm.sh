#!/usr/bin/env bash
# What keeping keys in an HSM costs (BENCHMARKS.md, "HSM custody"), all in one run: three
# servers on this machine, each with its own data directory, measured one after the other with
# wrk over real HTTP:
#  1. master-key custody (the default; signing keys unwrapped into memory) — the baseline;
#  2. signing keys in a SoftHSM2 token ([keys] custody = "pkcs11");
#  3. signing keys and the master key in the token ([keys.pkcs11] master_key = true).
# Two loads on each: token issuance (the client-credentials grant: one C_Sign per token in
# cases 2 and 3) and a customer reading their own record (/v1/customers/me: the data key is
# unwrapped by the token in case 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
duration=${BENCH_DURATION:-10s}
connections=${BENCH_CONNECTIONS:-16}
module=${HAECHI_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    cargo build --release --bin haechi >&2
fi
haechi="$repo/target/release/haechi"
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
pin=bench-pin-7731

# setup NAME [custody-env...]: a data directory, a token of its own, a service and a customer,
# and a server; prints nothing, leaves $work/NAME.{base,client,token}.
setup() {
    local name=$1; shift
    local dir="$work/$name"
    mkdir -p "$dir/data" "$dir/tokens"
    echo "directories.tokendir = $dir/tokens" > "$dir/softhsm2.conf"
    SOFTHSM2_CONF="$dir/softhsm2.conf" softhsm2-util --init-token --free --label haechi \
        --so-pin so-pin-0000 --pin "$pin" >/dev/null
    local env=(env -u HAECHI_MASTER_KEY -u HAECHI_CONFIG SOFTHSM2_CONF="$dir/softhsm2.conf"
        HAECHI_PKCS11_PIN="$pin" HAECHI_LOG=warn "$@")
    (cd "$dir" && "${env[@]}" "$haechi" service create bench --purposes support \
        --data-dir "$dir/data") > "$dir/service.txt"
    echo '{"name":"김벤치","email":"bench@example.com","phone":"010-9999-8888","birth_date":"1990-01-01","addresses":[{"recipient":"김벤치","phone":"010-9999-8888","road_address":"서울특별시 송파구 올림픽로 300","detail":"101동 1203호","postal_code":"05551"}],"password":"correct horse battery"}' \
        > "$dir/customer.jsonl"
    (cd "$dir" && "${env[@]}" "$haechi" customers import "$dir/customer.jsonl" \
        --data-dir "$dir/data") >/dev/null 2>&1
    # The customer's own rate would refuse all but the first reads of one customer.
    printf '[quota]\ncustomer_requests_per_minute = 100000000\n' > "$dir/data/policy.toml"
    (cd "$dir" && "${env[@]}" HAECHI_DETECT__RESPONSE=dry_run \
        HAECHI_LOGIN__ATTEMPTS_PER_SOURCE=100000000 "$haechi" serve --listen 127.0.0.1:0 \
        --data-dir "$dir/data" > "$dir/serve.log" 2>&1) &
    pids+=($!)
    for _ in $(seq 1 600); do grep -q "listening on" "$dir/serve.log" && break; sleep 0.1; done
    sed -n 's/^haechi listening on //p' "$dir/serve.log" > "$work/$name.base"
    local id secret
    id=$(sed -n 's/^client_id=//p' "$dir/service.txt")
    secret=$(sed -n 's/^client_secret=//p' "$dir/service.txt")
    printf 'Basic %s' "$(printf '%s:%s' "$id" "$secret" | base64 -w0)" > "$work/$name.client"
    curl -s -X POST "$(cat "$work/$name.base")/v1/auth/login" -H 'content-type: application/json' \
        -d '{"email":"bench@example.com","password":"correct horse battery"}' \
        | jq -r .access_token > "$work/$name.token"
}

pkcs11=(HAECHI_KEYS__CUSTODY=pkcs11 HAECHI_KEYS__PKCS11__MODULE="$module"
    HAECHI_KEYS__PKCS11__TOKEN_LABEL=haechi)
setup memory
setup token "${pkcs11[@]}"
setup token_master "${pkcs11[@]}" HAECHI_KEYS__PKCS11__MASTER_KEY=true

issue() { # NAME LABEL
    BENCH_BODY="grant_type=client_credentials" BENCH_AUTHORIZATION="$(cat "$work/$1.client")" \
        wrk -t2 -c"$connections" -d"$duration" --latency -s scripts/bench/wrk_post.lua \
        "$(cat "$work/$1.base")/v1/oauth/token" | grep '^RESULT' | sed "s/^RESULT/$2/"
}
read_own() { # NAME LABEL
    BENCH_AUTHORIZATION="Bearer $(cat "$work/$1.token")" \
        wrk -t2 -c"$connections" -d"$duration" --latency -s scripts/bench/wrk_get.lua "$(cat "$work/$1.base")/v1/customers/me" \
        | grep '^RESULT' | sed "s/^RESULT/$2/"
}
echo "== token issuance (client credentials), wrk -t2 -c$connections -d$duration"
issue memory "keys in memory (baseline)        "
issue token "signing keys in SoftHSM2         "
issue token_master "signing + master key in SoftHSM2 "
echo "== a customer reads their own record (GET /v1/customers/me)"
read_own memory "master key in memory (baseline)  "
read_own token "signing keys in SoftHSM2         "
read_own token_master "master key in SoftHSM2           "
