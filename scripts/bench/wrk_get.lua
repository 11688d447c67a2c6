-- wrk script for scripts/bench/vault_load.sh: one fixed GET with an Authorization header, and
-- the same one-line summary as wrk_post.lua.
--   BENCH_AUTHORIZATION Authorization header (optional)
--   BENCH_DELAY_MS      pause before each request on a connection (optional): paces the
--                       load below the peak, e.g. to half of it (vault_load.sh)

wrk.method = "GET"
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization ~= nil and authorization ~= "" then
   wrk.headers["Authorization"] = authorization
end

local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if delay_ms ~= nil and delay_ms > 0 then
   function delay()
      return delay_ms
   end
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
