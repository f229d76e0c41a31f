-- POST one run event (AppendRunEventRequest JSON) to
-- /internal/v1/runs/bench-run-NN/events, cycling over 64 runs.
local body = '{"event_type":"tool.call","payload":{"tool":"search","args":{"q":"durable appends","limit":10},"latency_ms":12.5}}'
local headers = { ["Content-Type"] = "application/json" }
local paths = {}
for i = 0, 63 do paths[i] = string.format("/internal/v1/runs/bench-run-%02d/events", i) end
local n = 0
request = function()
  local p = paths[n % 64]
  n = n + 1
  return wrk.format("POST", p, headers, body)
end
