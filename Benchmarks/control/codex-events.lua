-- POST one codex worker event to the control service (a durable control write).
-- The session token comes from the environment (BENCH_SESSION_TOKEN).
local body = '{"event_type":"worker.note","payload":{"text":"progress","step":1}}'
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("BENCH_SESSION_TOKEN") }
request = function()
  return wrk.format("POST", "/api/runtime/codex/workers/codexw_bench/events", headers, body)
end
