-- POST one run event (AppendRunEventRequest JSON) to
-- /internal/v1/runs/bench-run-NN/events, cycling over 64 runs
-- (RUN_FIRST and RUN_COUNT pick a slice of them: one instance's share when a
-- load balancer routes by run id).
local body = '{"event_type":"tool.call","payload":{"tool":"search","args":{"q":"durable appends","limit":10},"latency_ms":12.5}}'
local headers = { ["Content-Type"] = "application/json" }
local first = tonumber(os.getenv("RUN_FIRST") or "0")
local count = tonumber(os.getenv("RUN_COUNT") or "64")
local paths = {}
for i = 0, count - 1 do paths[i] = string.format("/internal/v1/runs/bench-run-%02d/events", first + i) end
local n = 0
request = function()
  local p = paths[n % count]
  n = n + 1
  return wrk.format("POST", p, headers, body)
end
