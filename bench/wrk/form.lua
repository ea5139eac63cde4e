-- A form POST with an Authorization header (HTTP Basic client authentication):
--   wrk -s bench/wrk/form.lua URL -- 'Basic <base64>' 'grant_type=client_credentials' [delay_ms]
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "stats.lua")

function init(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = args[1]
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.body = args[2]
  pace(tonumber(args[3]))
end
