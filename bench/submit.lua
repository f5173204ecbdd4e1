-- wrk script: POST <path> with a JSON report, a bearer token and a fresh Idempotency-Key.
--   wrk -t1 -c12 -d10s -s bench/submit.lua http://127.0.0.1:8000 -- tokens.txt codes.txt /api/v1/tickets RUNID
-- Each request draws a resident's token (tokens.txt, one a line), a building code (codes.txt)
-- and a category at random, and carries a key never used before: RUNID (unique per wrk run)
-- plus a counter, shaped like a UUID. The same script loads the bare insert endpoint.
-- done() prints "BENCH_JSON {...}" with wrk's figures and the count of each status code.

local tokens, codes = {}, {}
local path = "/api/v1/tickets"
local run = "00000000"
local counter = 0
statuses = {}  -- global: done() reads it with thread:get
local threads = {}

local CATEGORIES = {
  "light", "fire_lane", "garbage", "parking", "noise", "greenery",
  "elevator", "water", "power", "gas",
}
local DESCRIPTIONS = {
  "楼道灯坏了，晚上很黑，老人上下楼不安全，请尽快修理",
  "消防通道被电动车和杂物堵住了，万一着火消防车进不来",
  "垃圾桶已经满了两天没人清运，味道很大，夏天容易招蚊虫",
  "小区门口车辆乱停，早上上班高峰期出不去，希望能管一管",
  "楼上装修每天早上七点就开始打钻，严重影响休息",
  "电梯经常卡在三楼，门关不上，住户出行很不方便",
  "地下室水管漏水，积水越来越多，担心影响地基",
  "单元楼里经常跳闸，冰箱里的东西都坏了",
}

local function lines(file)
  local out = {}
  for line in io.lines(file) do
    if #line > 0 then out[#out + 1] = line end
  end
  if #out == 0 then error("no lines in " .. file) end
  return out
end

function setup(thread)
  threads[#threads + 1] = thread
end

function init(args)
  tokens = lines(args[1])
  codes = lines(args[2])
  path = args[3] or path
  run = args[4] or run
  math.randomseed(tonumber(run, 16) or os.time())
end

function request()
  counter = counter + 1
  local key = string.format("%s-%04x-4%03x-a%03x-%012x", run, math.random(0, 0xffff),
    math.random(0, 0xfff), math.random(0, 0xfff), counter)
  local body = string.format(
    '{"code": "%s", "kind": "report", "category": "%s", "description": "%s", '
      .. '"unit": "1单元", "photo_ids": [], "anonymous": false, "contact_phone": "1380013%04d"}',
    codes[math.random(#codes)], CATEGORIES[math.random(#CATEGORIES)],
    DESCRIPTIONS[math.random(#DESCRIPTIONS)], math.random(0, 9999))
  local headers = {
    ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)],
    ["Idempotency-Key"] = key,
    ["Content-Type"] = "application/json",
  }
  return wrk.format("POST", path, headers, body)
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
