-- Authorization-code redemption: every request redeems a code never used before.
--   wrk -s bench/wrk/code.lua URL -- CODES_FILE 'Basic <base64>' REDIRECT_URI THREADS [delay_ms]
-- CODES_FILE (written by the runner just before this run; codes live at most a minute) has one
-- code a line: CODE<TAB>PKCE_VERIFIER. Thread `tid` of THREADS takes lines tid+1, tid+1+THREADS,
-- …, each once, in order. Should the file run out, the requests after that send the code
-- "exhausted" (answered 400) and are counted as "exhausted" apart from the server's own errors.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "stats.lua")

local bodies, next_code, headers = {}, 1, nil

local function escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  local threads = tonumber(args[4]) or 1
  local redirect = escape(args[3])
  headers = {["Authorization"] = args[2], ["Content-Type"] = "application/x-www-form-urlencoded"}
  local n = 0
  for line in io.lines(args[1]) do
    local code, verifier = line:match("^([^\t]+)\t(.+)$")
    if code then
      if n % threads == tid then
        table.insert(bodies, "grant_type=authorization_code&code=" .. escape(code) .. "&redirect_uri=" ..
          redirect .. "&code_verifier=" .. escape(verifier))
      end
      n = n + 1
    end
  end
  bodies.exhausted = "grant_type=authorization_code&code=exhausted&redirect_uri=" .. redirect ..
    "&code_verifier=exhausted"
  pace(tonumber(args[5]))
end

function request()
  local body = bodies[next_code]
  if body then
    bodies[next_code] = nil
    next_code = next_code + 1
  else
    count("exhausted")
    body = bodies.exhausted
  end
  return wrk.format("POST", nil, headers, body)
end
