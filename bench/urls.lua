-- wrk script: GET <prefix><word> where <word> is drawn at random from a file, one per line,
-- so that load spreads over many rows instead of one hot row.
--   wrk -t1 -c12 -d10s -s bench/urls.lua http://127.0.0.1:8000 -- words.txt /api/v1/scan/ [seed]
-- done() prints one line "BENCH_JSON {...}" that bench/harness.py parses.

local words = {}
local prefix = "/"

function init(args)
  local path = args[1]
  prefix = args[2] or "/"
  for line in io.lines(path) do
    if #line > 0 then
      words[#words + 1] = line
    end
  end
  if #words == 0 then
    error("no words in " .. path)
  end
  math.randomseed(tonumber(args[3] or "20261122"))
end

function request()
  return wrk.format("GET", prefix .. words[math.random(#words)])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, '
      .. '"status_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
