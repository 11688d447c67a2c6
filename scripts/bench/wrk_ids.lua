-- wrk script for scripts/bench/soak.sh: GET /v1/customers/{id}?purpose=... over the customer ids
-- listed in a file, one after another, with an Authorization header, optionally paced.
--   BENCH_IDS_FILE      file with one customer id a line (required)
--   BENCH_PURPOSE       the declared purpose (default support: masked)
--   BENCH_AUTHORIZATION Authorization header
--   BENCH_DELAY_MS      pause before each request of a connection (default 0: as fast as it can)

local ids = {}
local position = 0
local purpose = os.getenv("BENCH_PURPOSE") or "support"
local authorization = os.getenv("BENCH_AUTHORIZATION")
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("offset", counter * 7)
end

function init(args)
   for line in io.lines(os.getenv("BENCH_IDS_FILE")) do
      if line ~= "" then
         table.insert(ids, line)
      end
   end
   position = offset or 0
end

function request()
   position = position % #ids + 1
   local headers = {}
   if authorization ~= nil and authorization ~= "" then
      headers["Authorization"] = authorization
   end
   return wrk.format("GET", "/v1/customers/" .. ids[position] .. "?purpose=" .. purpose, headers)
end

if pause > 0 then
   function delay()
      return pause
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
