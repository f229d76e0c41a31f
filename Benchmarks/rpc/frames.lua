-- POST a frame to the runtime's /internal/v1/runs/<BENCH_RUN>/frames (the
-- durable append behind session/send), each with its own frame_id.
local run = os.getenv("BENCH_RUN")
local headers = { ["Content-Type"] = "application/json" }
local n = 0
local prefix = tostring(math.random(1, 1e9))
request = function()
  n = n + 1
  local body = '{"thread_id":"' .. run .. '","frame_id":"f' .. prefix .. '-' .. n .. '","type":"user_message","payload":{"text":"hello"}}'
  return wrk.format("POST", "/internal/v1/runs/" .. run .. "/frames", headers, body)
end
