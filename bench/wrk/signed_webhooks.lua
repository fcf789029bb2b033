-- wrk script: POSTs signed Up webhooks, each with its own event id.
--
-- The bodies and their HMAC-SHA256 signatures are precomputed by bench/wrk_throughput.ts into a
-- file (one "<lowercase hex signature>\t<json body>" per line) named by the BODIES environment
-- variable, the thread count by WRK_THREADS. Thread k of n sends lines k, k+n, k+2n, ... so no two requests share an event id
-- until a thread runs out of lines, then it starts its share again (and counts the repeats).
-- At the end it prints one JSON line, "wrk-result {...}", that the bench parses.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("index", counter - 1)
  table.insert(threads, thread)
end

function init(args)
  requests_built = {}
  local file = assert(io.open(os.getenv("BODIES"), "r"))
  local line_no = 0
  local mine = tonumber(index)
  local stride = tonumber(os.getenv("WRK_THREADS") or "1")
  for line in file:lines() do
    if line_no % stride == mine then
      local tab = string.find(line, "\t", 1, true)
      local signature = string.sub(line, 1, tab - 1)
      local body = string.sub(line, tab + 1)
      table.insert(requests_built, wrk.format("POST", "/webhook", {
        ["Content-Type"] = "application/json",
        ["X-Up-Authenticity-Signature"] = signature,
      }, body))
    end
    line_no = line_no + 1
  end
  file:close()
  next_request = 1
  repeats = 0
end

function request()
  local built = requests_built[next_request]
  next_request = next_request + 1
  if next_request > #requests_built then
    next_request = 1
    repeats = repeats + 1
  end
  return built
end

function done(summary, latency, requests)
  local wrapped = 0
  for _, thread in ipairs(threads) do
    wrapped = wrapped + (thread:get("repeats") or 0)
  end
  io.write(string.format(
    'wrk-result {"requests":%d,"durationUs":%d,"connectErrors":%d,"readErrors":%d,' ..
      '"writeErrors":%d,"timeouts":%d,"non2xx":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,' ..
      '"maxUs":%d,"wrapped":%d}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, wrapped))
end
