"""make bench-postgres (c): append through instance A, time until an SSE
client on instance B receives the event. One SSE stream on B per run; each
sample POSTs one event to A and waits for its id on B's stream. The time
includes A's durable commit, so it is append-to-delivery, end to end.

usage: cross_instance_latency.py PORT_A PORT_B SAMPLES
prints: cross-instance samples N p50 X ms p99 Y ms max Z ms"""
import http.client
import socket
import sys
import time

port_a, port_b, samples = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])


def post(conn, path, body):
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status not in (200, 201):
        raise SystemExit(f"POST {path}: {r.status} {data[:200]!r}")
    return data


a = http.client.HTTPConnection("127.0.0.1", port_a, timeout=10)
run = f"latency-{int(time.time() * 1000)}"
post(a, "/internal/v1/runs", f'{{"run_id":"{run}","thread_id":"t"}}')
s = socket.create_connection(("127.0.0.1", port_b), timeout=10)
s.sendall(f"GET /internal/v1/runs/{run}/stream?thread_id=t&cursor=1&tail_ms=120000 HTTP/1.1\r\nHost: b\r\n\r\n".encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(65536)
buf = buf.split(b"\r\n\r\n", 1)[1]
body = b'{"event_type":"tool","payload":{"tool":"probe"}}'
times = []
for i in range(samples):
    want = f"id: {i + 2}\n".encode()
    t0 = time.perf_counter()
    post(a, f"/internal/v1/runs/{run}/events", body)
    while want not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("the stream on B ended")
        buf += chunk
    times.append((time.perf_counter() - t0) * 1000)
    buf = buf[buf.index(want) + len(want):]
times.sort()
pct = lambda p: times[min(len(times) - 1, int(p * len(times)))]
print(f"cross-instance samples {len(times)} p50 {pct(0.50):.2f} ms p99 {pct(0.99):.2f} ms max {times[-1]:.2f} ms")
