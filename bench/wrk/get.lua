-- A plain GET (JWKS):  wrk -s bench/wrk/get.lua URL [-- delay_ms]
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "stats.lua")

function init(args)
  wrk.method = "GET"
  pace(tonumber(args[1]))
end
