#!/usr/bin/env bash
# Gateway mode's cost (BENCHMARKS.md, "Gateway"), all in one run: wrk through nginx (Debian's)
#  1. straight to the upstream (the baseline: nginx → upstream);
#  2. with auth_request asking Haechi on every request (deploy/gateway/nginx.conf);
#  3. the same with decision caching (proxy_cache on tmpfs, Haechi's `cache_seconds = 1`).
# The upstream is an nginx server block answering 200 itself, so what is measured is the proxy
# path. One customer's token on every request: case 3 is caching's best case (one check a
# second per token and request line).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
duration=${BENCH_DURATION:-10s}
connections=${BENCH_CONNECTIONS:-16}
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    cargo build --release --bin haechi >&2
fi
haechi="$repo/target/release/haechi"
work=$(mktemp -d)
data="$work/data"
cache=$(mktemp -d /dev/shm/haechi-decisions.XXXXXX)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work" "$cache"; }
trap cleanup EXIT
h() { (cd "$work" && env -u HAECHI_MASTER_KEY -u HAECHI_CONFIG "$haechi" "$@" --data-dir "$data"); }
mkdir -p "$data"
cat > "$data/policy.toml" <<'POLICY'
[gateway]
cache_seconds = 1

[[gateway.route]]
name = "orders"
path_prefix = "/api/orders"
principals = ["customer"]
POLICY
echo 'correct horse battery' | h customers create --email bench@example.com --phone 010-9999-8888 --password-stdin >/dev/null 2>&1
(cd "$work" && env -u HAECHI_MASTER_KEY -u HAECHI_CONFIG HAECHI_LOG=warn \
    HAECHI_SERVER__TRUSTED_PROXIES='["127.0.0.0/8"]' \
    "$haechi" serve --listen 127.0.0.1:0 --data-dir "$data" > "$work/serve.log" 2>&1) &
pids+=($!)
for _ in $(seq 1 600); do grep -q "listening on" "$work/serve.log" && break; sleep 0.1; done
base=$(sed -n 's/^haechi listening on //p' "$work/serve.log")
token=$(curl -s -X POST "$base/v1/auth/login" -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"correct horse battery"}' | jq -r .access_token)

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=$(port); plain=$(port); checked=$(port); cached=$(port)
# The documented configuration, filled in, for case 2; case 3 adds the cache; case 1 and the
# upstream are plain server blocks.
sed -e "s#@DIR@#$work#g" -e "s/@LISTEN@/$checked/" -e "s/@HAECHI@/${base#http://}/" \
    -e "s/@UPSTREAM@/127.0.0.1:$up/" deploy/gateway/nginx.conf > "$work/nginx.conf"
python3 - "$work/nginx.conf" "$up" "$plain" "$cached" "$cache" <<'PY'
import sys
path, up, plain, cached, cache = sys.argv[1:]
text = open(path).read()
server_start = text.index("    server {")
checked = text[server_start:text.rindex("}")]
cached_server = (checked.replace(f"listen 127.0.0.1:", f"listen 127.0.0.1:{cached};\n        #", 1)
    .replace("proxy_pass_request_body off;", "proxy_pass_request_body off;\n            proxy_cache haechi_decisions;\n"
             "            proxy_cache_key \"$http_authorization|$request_method|$host|$request_uri\";\n"
             "            proxy_cache_methods GET HEAD;"))
extra = f"""    proxy_cache_path {cache} keys_zone=haechi_decisions:10m max_size=64m inactive=5s;
    server {{ listen 127.0.0.1:{up}; access_log off; location / {{ return 200 "ok\\n"; }} }}
    server {{ listen 127.0.0.1:{plain}; location / {{ proxy_pass http://127.0.0.1:{up}; }} }}
{cached_server}"""
text = text[:server_start] + extra + text[server_start:]
text = text.replace("access_log " , "access_log off; #", 1)
open(path, "w").write(text)
PY
nginx -c "$work/nginx.conf" -p "$work" -g "daemon off; master_process off; pid $work/nginx.pid;" 2>"$work/nginx.err" &
pids+=($!)
sleep 1
for p in $plain $checked $cached; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $token" "http://127.0.0.1:$p/api/orders/1")
    [ "$code" = 200 ] || { echo "port $p answered $code"; cat "$work/nginx.err"; exit 1; }
done
run() { # NAME PORT
    wrk -t2 -c"$connections" -d"$duration" --latency -H "authorization: Bearer $token" \
        "http://127.0.0.1:$2/api/orders/1" > "$work/$1.txt"
    python3 - "$1" "$work/$1.txt" <<'PY'
import re, sys
name, path = sys.argv[1:]
text = open(path).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def pct(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", text, re.M)
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 0.001, "ms": 1, "s": 1000}[unit]
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(f"{name:34} {rps:9.0f} req/s   p50 {pct(50):7.3f} ms   p99 {pct(99):7.3f} ms"
      + (f"   non-2xx {errors.group(1)}" if errors else ""))
PY
}
echo "== wrk -t2 -c$connections -d$duration, one customer's token"
run "nginx → upstream (baseline)" "$plain"
run "nginx → auth_request → upstream" "$checked"
run "… with decision caching (1 s)" "$cached"
checks=$(grep -c '"gateway.allowed"' <(h audit search --kind gateway.allowed 2>/dev/null) || true)
echo "gateway.allowed records: $checks"
