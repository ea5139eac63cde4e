-- Shared by every bench script: counts responses by status in each thread (the response()
-- hook) and prints one JSON line at the end (done()) for bench/run.py to parse:
--   {"bench": 1, "requests": N, "non2xx": N, "statuses": {"200": N, ...}, "errors": {...},
--    "duration_s": S, "latency_us": {"p50": .., "p90": .., "p99": .., "mean": .., "max": ..},
--    "counters": {"exhausted": N, ...}}
-- "requests" counts every response; only the 2xx ones are successes. Socket errors and
-- timeouts are in "errors". A script may set `delay_ms` (think time per connection), and
-- count its own events with count(name) (summed over threads into "counters").
-- Each thread's number (0, 1, …) is its global `tid`, set before its init().

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

statuses = {}
non2xx = 0
counters = {}

function count(name)
  counters[name] = (counters[name] or 0) + 1
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function pace(ms)
  -- think time per connection, drawn from an exponential distribution of mean `ms`: with C
  -- connections and latency L, about C / (ms + L) req/s, arriving like a Poisson process. A
  -- fixed think time would keep connections in step: answers that leave together (a group
  -- commit) would come back together, and the latency would measure that burst.
  if ms and ms > 0 then
    math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
    delay = function() return math.floor(-ms * math.log(1 - math.random()) + 0.5) end
  end
end

local function json_counts(t)
  local parts = {}
  for name, n in pairs(t) do
    table.insert(parts, string.format('"%s": %d', name, n))
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
  local total_non2xx, merged, extra = 0, {}, {}
  for _, thread in ipairs(threads) do
    total_non2xx = total_non2xx + (thread:get("non2xx") or 0)
    for status, n in pairs(thread:get("statuses") or {}) do
      merged[status] = (merged[status] or 0) + n
    end
    for name, n in pairs(thread:get("counters") or {}) do
      extra[name] = (extra[name] or 0) + n
    end
  end
  local e = summary.errors
  io.write(string.format(
    '{"bench": 1, "requests": %d, "non2xx": %d, "statuses": %s, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, "duration_s": %.6f, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "mean": %.1f, "max": %d}, "counters": %s}\n',
    summary.requests, total_non2xx, json_counts(merged),
    e.connect, e.read, e.write, e.timeout, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max,
    json_counts(extra)))
end
