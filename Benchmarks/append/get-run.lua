-- GET one run (the product's nearest read to the anchor's page read: the
-- product has no event-page route), cycling over the 64 bench runs.
local paths = {}
for i = 0, 63 do paths[i] = string.format("/internal/v1/runs/bench-run-%02d", i) end
local n = 0
request = function()
  local p = paths[n % 64]
  n = n + 1
  return wrk.format("GET", p)
end
