-- wrk script for scripts/bench/http_load.sh: one fixed POST, and a one-line summary the shell
-- script parses. Everything comes from the environment:
--   BENCH_BODY          request body
--   BENCH_CONTENT_TYPE  its media type
--   BENCH_AUTHORIZATION Authorization header (optional)

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or ""
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/x-www-form-urlencoded"
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization ~= nil and authorization ~= "" then
   wrk.headers["Authorization"] = authorization
end

function done(summary, latency, requests)
   local seconds = summary.duration / 1e6
   local errors = summary.errors
   io.write(string.format(
      "RESULT requests=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f non2xx=%d socket_errors=%d\n",
      summary.requests,
      summary.requests / seconds,
      latency:percentile(50) / 1000,
      latency:percentile(99) / 1000,
      errors.status,
      errors.connect + errors.read + errors.write + errors.timeout))
end
