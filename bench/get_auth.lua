-- wrk script: GET requests drawn at random from a file of lines "<path>\t<bearer token>"
-- (the token may be empty: no Authorization header).
--   wrk -t1 -c12 -d10s -s bench/get_auth.lua http://127.0.0.1:8000 -- requests.txt [seed]
-- done() prints "BENCH_JSON {...}" with wrk's figures and the count of each status code.

local reqs = {}
statuses = {}  -- global: done() reads it with thread:get
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      local path, token = line:match("^([^\t]*)\t?(.*)$")
      local headers = {}
      if token and #token > 0 then headers["Authorization"] = "Bearer " .. token end
      reqs[#reqs + 1] = wrk.format("GET", path, headers)
    end
  end
  if #reqs == 0 then error("no requests in " .. args[1]) end
  math.randomseed(tonumber(args[2] or "20261122"))
end

function request()
  return reqs[math.random(#reqs)]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for code, n in pairs(s) do counts[code] = (counts[code] or 0) + n end
  end
  local parts = {}
  for code, n in pairs(counts) do parts[#parts + 1] = string.format('"%d": %d', code, n) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, '
      .. '"status_errors": %d, "timeouts": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ", ")))
end
