-- A GET with a bearer token (userinfo):  wrk -s bench/wrk/bearer.lua URL -- TOKENS_FILE [delay_ms]
-- TOKENS_FILE has one access token a line (from the code flow, for several users); each request
-- takes the next one, round robin.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "stats.lua")

local requests, i = {}, 0

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then
      table.insert(requests, wrk.format("GET", nil, {["Authorization"] = "Bearer " .. line}))
    end
  end
  if #requests == 0 then
    error("no token in " .. args[1])
  end
  pace(tonumber(args[2]))
end

function request()
  i = i % #requests + 1
  return requests[i]
end
