-- Many shoppers: every request comes from another address (through a trusted
-- proxy's X-Forwarded-For) with a browser's User-Agent, over every link code
-- listed in the file named by LINK_CODES (one a line).
local codes = {}
for line in io.lines(os.getenv("LINK_CODES")) do
  codes[#codes + 1] = line
end
local counter = 0

request = function()
  counter = counter + 1
  local ip = string.format("10.%d.%d.%d", math.floor(counter / 65536) % 256, math.floor(counter / 256) % 256, counter % 256)
  local path = "/r/" .. codes[(counter % #codes) + 1]
  return wrk.format("GET", path, { ["User-Agent"] = "Mozilla/5.0 (bench)", ["X-Forwarded-For"] = ip })
end
