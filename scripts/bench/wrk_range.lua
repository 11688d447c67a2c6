-- wrk script for scripts/bench/leak_load.sh: GET /v1/exposure/range/{prefix} with a random
-- prefix per request (BENCH_PREFIX fixes one instead), and a random X-Forwarded-For per request
-- so the per-source rate limit (20/s) sees a crowd, as in a panic, rather than one client.
--   BENCH_PREFIX   fixed 5-hex prefix (optional)
--   BENCH_PADDING  "true" to send Add-Padding: true (optional)

local counter = 0
local fixed = os.getenv("BENCH_PREFIX")
local padding = os.getenv("BENCH_PADDING")

function setup(thread)
   counter = counter + 1
   thread:set("seed", counter)
end

function init(args)
   math.randomseed(os.time() * 1000 + (seed or 0))
end

function request()
   local prefix = fixed
   if prefix == nil or prefix == "" then
      prefix = string.format("%05X", math.random(0, 0xFFFFF))
   end
   local headers = {
      ["X-Forwarded-For"] = string.format("198.18.%d.%d", math.random(0, 255), math.random(1, 254)),
   }
   if padding == "true" then
      headers["Add-Padding"] = "true"
   end
   return wrk.format("GET", "/v1/exposure/range/" .. prefix, headers)
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
