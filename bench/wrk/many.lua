-- Client credentials spread over many applications: each request picks one at random.
--   wrk -s bench/wrk/many.lua http://HOST:PORT -- CLIENTS_FILE 'grant_type=client_credentials' [delay_ms]
-- CLIENTS_FILE (written by bench/scaling.py) has one application a line, tab-separated:
--   /APPLICATION/token<TAB>Basic <base64 client_id:client_secret>
-- (a data file read here rather than a Lua table literal: LuaJIT limits the constants of one
-- chunk, and 10,000 applications would come close). Every request is formatted once, in init.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "stats.lua")

local requests = {}

function init(args)
  for line in io.lines(args[1]) do
    local path, basic = line:match("^([^\t]+)\t(.+)$")
    if path then
      local headers = {["Authorization"] = basic, ["Content-Type"] = "application/x-www-form-urlencoded"}
      table.insert(requests, wrk.format("POST", path, headers, args[2]))
    end
  end
  if #requests == 0 then
    error("no application in " .. args[1])
  end
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  pace(tonumber(args[3]))
end

function request()
  return requests[math.random(#requests)]
end
