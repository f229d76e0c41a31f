// RPCBench (make bench-rpc): JSON-RPC round trips over the control service's
// WebSocket (`/api/rpc/ws`) of the real `openagents serve`. CONNECTIONS
// sockets each call initialize, then send BODY (one JSON-RPC request) and
// wait for its answer, over and over for SECONDS; prints answers/s and the
// round trip's p50/p99 over every call, and how many answers were errors.
// Like wrk -t2 -c64: THREADS threads share the sockets, each thread polling
// its own, so the load generator costs what the anchor's does on the cores
// it shares with the server.

import Foundation
import Glibc
import Synchronization

let env = ProcessInfo.processInfo.environment
let port = Int(env["PORT"] ?? "8195") ?? 8195
let connections = Int(env["CONNECTIONS"] ?? "64") ?? 64
let seconds = Double(env["SECONDS"] ?? "10") ?? 10
let token = env["SESSION_TOKEN"] ?? ""
let label = env["LABEL"] ?? "ws"
let body = Array((env["BODY"] ?? #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#).utf8)

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// A client frame: text, FIN, masked (RFC 6455 5.3) with a fixed key (the bench sends the same bytes each time).
func frame(_ payload: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0x81]
    let key: [UInt8] = [0x11, 0x22, 0x33, 0x44]
    if payload.count < 126 { out.append(0x80 | UInt8(payload.count)) } else if payload.count < 65536 {
        out += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
    } else {
        out.append(0x80 | 127)
        for i in (0..<8).reversed() { out.append(UInt8((payload.count >> (8 * i)) & 0xff)) }
    }
    out += key
    for (i, b) in payload.enumerated() { out.append(b ^ key[i % 4]) }
    return out
}

final class Socket {
    let fd: Int32
    var buffer: [UInt8] = []
    init() {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { fatalError("connect: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }
    func write(_ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { fatalError("send failed") }
            sent += n
        }
    }
    func fill() {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, 0) }
        guard n > 0 else { fatalError("the server closed the socket") }
        buffer += chunk[0..<n]
    }
    func upgrade() {
        write(Array("GET /api/rpc/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer \(token)\r\n\r\n".utf8))
        while true {
            if let end = find([13, 10, 13, 10]) {
                let head = String(decoding: buffer[0..<end], as: UTF8.self)
                guard head.hasPrefix("HTTP/1.1 101") else { fatalError("no upgrade: \(head)") }
                buffer.removeFirst(end + 4)
                return
            }
            fill()
        }
    }
    func find(_ p: [UInt8]) -> Int? {
        guard buffer.count >= p.count else { return nil }
        for i in 0...(buffer.count - p.count) where buffer[i] == p[0] && Array(buffer[i..<i + p.count]) == p { return i }
        return nil
    }
    /// The next text message's payload (pings and other control frames skipped).
    func message() -> [UInt8] {
        while true {
            if buffer.count >= 2 {
                let opcode = buffer[0] & 0x0f
                var len = Int(buffer[1] & 0x7f), at = 2
                if len == 126, buffer.count >= 4 { len = Int(buffer[2]) << 8 | Int(buffer[3]); at = 4 } else if len == 127, buffer.count >= 10 {
                    len = 0
                    for i in 2..<10 { len = len << 8 | Int(buffer[i]) }
                    at = 10
                } else if len >= 126 { fill(); continue }
                if buffer.count >= at + len {
                    let payload = Array(buffer[at..<at + len])
                    buffer.removeFirst(at + len)
                    if opcode == 1 { return payload }
                    if opcode == 8 { fatalError("the server closed: \(payload)") }
                    continue
                }
            }
            fill()
        }
    }
}

struct Totals { var calls = 0; var errors = 0; var latencies: [UInt64] = [] }
let threads = Int(env["THREADS"] ?? "2") ?? 2
let totals = Mutex(Totals())
let start = Mutex<UInt64>(0)
let ready = DispatchSemaphore(value: 0)
let go = DispatchSemaphore(value: 0)
let done = DispatchSemaphore(value: 0)
let request = frame(body)
let errorMarker = Array(#""error":"#.utf8)

extension Socket {
    /// A whole text message if the buffer holds one (control frames dropped); nil otherwise.
    func take() -> [UInt8]? {
        while buffer.count >= 2 {
            let opcode = buffer[0] & 0x0f
            var len = Int(buffer[1] & 0x7f), at = 2
            if len == 126 {
                guard buffer.count >= 4 else { return nil }
                len = Int(buffer[2]) << 8 | Int(buffer[3]); at = 4
            } else if len == 127 {
                guard buffer.count >= 10 else { return nil }
                len = 0
                for i in 2..<10 { len = len << 8 | Int(buffer[i]) }
                at = 10
            }
            guard buffer.count >= at + len else { return nil }
            let payload = Array(buffer[at..<at + len])
            buffer.removeFirst(at + len)
            if opcode == 8 { fatalError("the server closed: \(payload)") }
            if opcode == 1 { return payload }
        }
        return nil
    }
}

func isError(_ answer: [UInt8]) -> Bool {
    guard answer.count > errorMarker.count else { return false }
    return answer.withUnsafeBufferPointer { b in (0...(b.count - errorMarker.count)).contains { i in b[i] == 0x22 && Array(b[i..<i + errorMarker.count]) == errorMarker } }
}

for w in 0..<threads {
    let mine = (0..<connections).filter { $0 % threads == w }.count
    let t = Thread {
        let sockets = (0..<mine).map { _ -> Socket in
            let s = Socket()
            s.upgrade()
            s.write(frame(Array(#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#.utf8)))
            _ = s.message()
            return s
        }
        ready.signal()
        go.wait()
        let deadline = start.withLock { $0 } + UInt64(seconds * 1e9)
        var local = Totals()
        local.latencies.reserveCapacity(1_000_000)
        var sentAt = [UInt64](repeating: 0, count: sockets.count)
        var fds = sockets.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        for (i, s) in sockets.enumerated() { sentAt[i] = now(); s.write(request) }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while now() < deadline {
            guard poll(&fds, nfds_t(fds.count), 100) > 0 else { continue }
            for i in fds.indices where fds[i].revents != 0 {
                let s = sockets[i]
                let n = chunk.withUnsafeMutableBytes { recv(s.fd, $0.baseAddress, 65536, 0) }
                guard n > 0 else { fatalError("the server closed the socket") }
                s.buffer += chunk[0..<n]
                while let answer = s.take() {
                    let t = now()
                    local.latencies.append(t - sentAt[i])
                    local.calls += 1
                    if isError(answer) { local.errors += 1 }
                    if t < deadline { sentAt[i] = t; s.write(request) }
                }
            }
        }
        totals.withLock { t in t.calls += local.calls; t.errors += local.errors; t.latencies += local.latencies }
        done.signal()
    }
    t.stackSize = 1 << 20
    t.start()
}
for _ in 0..<threads { ready.wait() }
start.withLock { $0 = now() }
for _ in 0..<threads { go.signal() }
for _ in 0..<threads { done.wait() }
let elapsed = Double(now() - start.withLock { $0 }) / 1e9
let t = totals.withLock { $0 }
let sorted = t.latencies.sorted()
func pct(_ p: Double) -> Double { sorted.isEmpty ? 0 : Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1e6 }
print(String(format: "%@ c%d %.0f req/s p50 %.3f ms p99 %.3f ms errors %d", label, connections, Double(t.calls) / elapsed, pct(0.5), pct(0.99), t.errors))
