-- Refresh with rotation: each request uses the newest refresh token of one family and the
-- answer's new refresh token replaces it.
--   wrk -s bench/wrk/refresh.lua URL -- FAMILIES_FILE 'Basic <base64>' THREADS [delay_ms]
-- FAMILIES_FILE (written by the runner just before this run) has one refresh token a line, each
-- from its own grant (one family). Thread `tid` of THREADS keeps lines tid+1, tid+1+THREADS, …
-- in a pool: request() takes a family's token out, response() parses the new one from the JSON
-- answer and puts it back. wrk tells a script nothing of connections, but a connection sends its
-- next request only after its answer, so with at least as many families as connections a family
-- is never in flight twice: each connection in effect holds one family and rotates it. Debian's
-- wrk 4.1.0 asks each thread for one request more than it sends (before its first answer: seen
-- as a 33rd request with 32 connections), which would lose a family for good, so the runner
-- gives each thread two spare families (they wait in the pool). A non-2xx answer loses its
-- family; when the pool is empty the request sends "starved" (answered 400) and is counted as
-- "starved", apart from the server's own errors.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "stats.lua")

local pool, headers = {}, nil
local count_status = response

local function escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  local threads = tonumber(args[3]) or 1
  headers = {["Authorization"] = args[2], ["Content-Type"] = "application/x-www-form-urlencoded"}
  local n = 0
  for line in io.lines(args[1]) do
    if line ~= "" then
      if n % threads == tid then
        table.insert(pool, line)
      end
      n = n + 1
    end
  end
  pace(tonumber(args[4]))
end

function request()
  local token = table.remove(pool)
  if not token then
    count("starved")
    token = "starved"
  end
  return wrk.format("POST", nil, headers, "grant_type=refresh_token&refresh_token=" .. escape(token))
end

function response(status, headers, body)
  count_status(status, headers, body)
  if status >= 200 and status <= 299 then
    local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if token then
      table.insert(pool, token)
    else
      count("no refresh token in the answer")
    end
  end
end
