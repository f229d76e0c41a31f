-- POST one JSON-RPC request (BENCH_BODY) to the control service's /api/rpc
-- with the session token (BENCH_SESSION_TOKEN). bench-rpc.sh checks the same
-- body once with curl first: wrk counts statuses, and JSON-RPC errors are 200s.
local body = os.getenv("BENCH_BODY")
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("BENCH_SESSION_TOKEN") }
request = function() return wrk.format("POST", "/api/rpc", headers, body) end
