// StreamBench (make bench-stream): SSE fan-out of the real `openagents serve`.
// 1. CLIENTS stream connections spread over RUNS runs while appenders post
//    events at RATE per second; prints delivered events/s and the latency from
//    an event's commit (`emittedAt`, stamped before its write and fdatasync) to
//    its arrival at a client, p50/p99.
// 2. IDLE stream connections held open; the caller reads the server's RSS.
// Every request is signed like any other client's (OA_RUNTIME_SIGNATURE_SECRET).
// LANE=ws runs the same over Khala's WebSocket lane (run:<id>:events, a sync
// token per client from RUNTIME_SYNC_TOKEN_SIGNING_KEY), and POLLERS adds
// that many Khala pollers, each at its 250 ms poll-interval guard.

import CSystem
import Foundation
import Glibc
import RuntimeCore
import Synchronization

enum Config {
    static let env = ProcessInfo.processInfo.environment
    static let port = Int(env["PORT"] ?? "4195") ?? 4195
    static let clients = Int(env["CLIENTS"] ?? "1000") ?? 1000
    static let runs = Int(env["RUNS"] ?? "100") ?? 100
    static let rate = Int(env["RATE"] ?? "2000") ?? 2000
    static let seconds = Double(env["SECONDS"] ?? "10") ?? 10
    static let idle = Int(env["IDLE"] ?? "10000") ?? 10000
    static let hold = Double(env["HOLD"] ?? "3") ?? 3
    static let appenders = Int(env["APPENDERS"] ?? "16") ?? 16
    static let secret = Array((env["OA_RUNTIME_SIGNATURE_SECRET"] ?? "").utf8)
    static let webSocket = env["LANE"] == "ws"
    static let syncKey = Array((env["RUNTIME_SYNC_TOKEN_SIGNING_KEY"] ?? "").utf8)
    static let pollers = Int(env["POLLERS"] ?? "0") ?? 0
}
let port = Config.port, clients = Config.clients, runs = Config.runs, rate = Config.rate, seconds = Config.seconds, idle = Config.idle
let secret = Config.secret

/// Unbuffered, so the calling script sees each line as it happens.
func emit(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

func token() -> String { RuntimeSignature.sign(RuntimeSignature.claims(ttl: 600), secret: Config.secret) }

/// A sync token for Khala, one device per client (the poll guard is per consumer).
func syncToken(device: Int) -> String {
    let now = Int(Date().timeIntervalSince1970)
    let claims = #"{"iss":"https://openagents.com","aud":"openagents-sync","iat":\#(now),"exp":\#(now + 290),"jti":"bench-\#(device)-\#(now)","oa_user_id":"bench","oa_device_id":"d\#(device)","oa_sync_scopes":["runtime.run_events"]}"#
    return JWT.sign(claims: Array(claims.utf8), key: Config.syncKey)
}

func connectTo(_ port: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
    let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard rc == 0 else { fatalError("connect: \(String(cString: strerror(errno)))") }
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    return fd
}

func sendAll(_ fd: Int32, _ text: String) {
    let bytes = Array(text.utf8)
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, bytes.count - off) }
        guard n > 0 else { fatalError("write: \(String(cString: strerror(errno)))") }
        off += n
    }
}

/// One blocking request/response on a keep-alive connection (enough for the appenders).
func request(_ fd: Int32, _ method: String, _ path: String, _ body: String) -> Int {
    sendAll(fd, "\(method) \(path) HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\nx-oa-runtime-signature: \(token())\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
    return readResponse(fd).status
}

/// The next response on a connection: its status and body (status 0 when the connection ended).
func readResponse(_ fd: Int32) -> (status: Int, body: [UInt8]) {
    var buffer: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return (0, []) }
        buffer += chunk[0..<n]
        guard let headEnd = find(buffer, Array("\r\n\r\n".utf8)) else { continue }
        let head = String(decoding: buffer[0..<headEnd], as: UTF8.self)
        let status = Int(head.split(separator: " ")[1]) ?? 0
        let length = head.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
        if buffer.count >= headEnd + 4 + length { return (status, Array(buffer[(headEnd + 4)...])) }
    }
}

func find(_ hay: [UInt8], _ needle: [UInt8], from: Int = 0) -> Int? {
    guard hay.count >= needle.count, from <= hay.count - needle.count else { return nil }
    var i = from
    while i <= hay.count - needle.count {
        if hay[i] == needle[0] && hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
        i += 1
    }
    return nil
}

/// "2026-11-22T02:13:13.361927Z" -> nanoseconds since the epoch.
func parseTime(_ s: ArraySlice<UInt8>) -> Int64? {
    let a = Array(s)
    guard a.count >= 20 else { return nil }
    func num(_ r: Range<Int>) -> Int32 { r.reduce(0) { $0 * 10 + Int32(a[$1] &- 48) } }
    var t = tm()
    t.tm_year = num(0..<4) - 1900
    t.tm_mon = num(5..<7) - 1
    t.tm_mday = num(8..<10)
    t.tm_hour = num(11..<13)
    t.tm_min = num(14..<16)
    t.tm_sec = num(17..<19)
    var nanos: Int64 = 0
    var digits = 0
    var i = 19
    if a[i] == UInt8(ascii: ".") {
        i += 1
        while i < a.count, a[i] >= 48, a[i] <= 57 { nanos = nanos * 10 + Int64(a[i] - 48); digits += 1; i += 1 }
        while digits < 9 { nanos *= 10; digits += 1 }
    }
    return Int64(timegm(&t)) * 1_000_000_000 + nanos
}

func realtimeNanos() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

func openStreams(_ count: Int, runOf: (Int) -> String) -> [Int32] {
    (0..<count).map { i in
        let fd = connectTo(Config.port)
        if Config.webSocket {
            sendAll(fd, "GET /internal/v1/khala/topics/run:\(runOf(i)):events/ws HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer \(syncToken(device: i))\r\n\r\n")
        } else {
            sendAll(fd, "GET /internal/v1/runs/\(runOf(i))/stream?thread_id=t HTTP/1.1\r\nHost: b\r\nx-oa-runtime-signature: \(token())\r\n\r\n")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        return fd
    }
}

// MARK: Phase 1: fan-out under appends (CLIENTS=0 skips it)

func fanOut() {

    let setup = connectTo(port)
    for r in 0..<runs {
        let status = request(setup, "POST", "/internal/v1/runs", #"{"run_id":"stream-run-\#(r)","thread_id":"t"}"#)
        guard status == 201 || status == 409 else { fatalError("create run: \(status)") }
    }
    let streams = openStreams(clients) { "stream-run-\($0 % runs)" }
    usleep(300_000)

    enum Flags {
        static let measuring = Atomic<Bool>(false)
        static let stop = Atomic<Bool>(false)
        static let appended = Atomic<Int>(0)
    }

    // Appenders: keep-alive connections, paced to RATE events/s in total (each
    // waits for its durable acknowledgement, so several are needed).
    var appenders: [Thread] = []
    for a in 0..<Config.appenders {
        let t = Thread {
            let fd = connectTo(Config.port)
            let interval = Double(Config.appenders) / Double(Config.rate)
            var next = Date().timeIntervalSince1970
            var i = a
            while !Flags.stop.load(ordering: .relaxed) {
                // The send time rides in the payload (microseconds: exact as a JSON number).
                let sentUs = realtimeNanos() / 1000
                let status = request(fd, "POST", "/internal/v1/runs/stream-run-\(i % Config.runs)/events", #"{"event_type":"text.delta","payload":{"delta":"hello","sent_us":\#(sentUs)}}"#)
                if status == 200, Flags.measuring.load(ordering: .relaxed) { Flags.appended.add(1, ordering: .relaxed) }
                i += Config.appenders
                next += interval
                let wait = next - Date().timeIntervalSince1970
                if wait > 0 { usleep(UInt32(wait * 1e6)) }
            }
            close(fd)
        }
        t.start()
        appenders.append(t)
    }

    /// The reader: one epoll loop over every stream connection; returns, for every
    /// event delivered after the warm-up, the latency from its append request
    /// being sent and from its commit (`emittedAt`) to its arrival.
    func readStreams(_ streams: [Int32]) -> (append: [Int64], commit: [Int64]) {
        let ep = epoll_create1(0)
        for fd in streams {
            var ev = epoll_event()
            ev.events = EPOLLIN.rawValue
            csystem_event_set_fd(&ev, fd)
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)
        }
        var carry: [Int32: [UInt8]] = [:]
        var latencies: [Int64] = []
        latencies.reserveCapacity(4_000_000)
        var fromAppend: [Int64] = []
        fromAppend.reserveCapacity(4_000_000)
        let sentMarker = Array(#""sent_us":"#.utf8)
        // SSE data is the event (emittedAt, then its payload); a Khala message
        // carries the event as its payload, then publishedAt (the same commit time).
        let marker = Array((Config.webSocket ? #""publishedAt":""# : #""emittedAt":""#).utf8)
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var buffer = [UInt8](repeating: 0, count: 65536)
        let warmup = Date().addingTimeInterval(1)
        let end = warmup.addingTimeInterval(Config.seconds)
        var started = false
        while Date() < end {
            if !started && Date() >= warmup { started = true; Flags.measuring.store(true, ordering: .relaxed) }
            let n = epoll_wait(ep, &events, Int32(events.count), 50)
            if n <= 0 { continue }
            for k in 0..<Int(n) {
                let fd = csystem_event_fd(&events[k])
                while true {
                    let got = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if got <= 0 { break }
                    let now = realtimeNanos()
                    var data = (carry[fd] ?? []) + buffer[0..<got]
                    var at = 0
                    while let i = find(data, marker, from: at) {
                        let start = i + marker.count
                        guard let close = data[start...].firstIndex(of: UInt8(ascii: "\"")) else { break }
                        if started, let t = parseTime(data[start..<close]) {
                            latencies.append(now - t)
                            // The payload precedes emittedAt's event end; find its send time in the same event.
                            let eventStart = Config.webSocket ? at : (data[..<i].lastIndex(of: UInt8(ascii: "\n")) ?? 0)
                            if let j = find(Array(data[eventStart..<(Config.webSocket ? i : data.count)]), sentMarker) {
                                let digits = data[(eventStart + j + sentMarker.count)...].prefix { ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 101 || $0 == 43 || $0 == 45 }
                                if let us = Double(String(decoding: digits, as: UTF8.self)) { fromAppend.append(now - Int64(us) * 1000) }
                            }
                        }
                        at = close
                    }
                    data.removeFirst(min(at, data.count))
                    carry[fd] = data.count > 4096 ? Array(data.suffix(256)) : data
                }
            }
        }
        return (fromAppend, latencies)
    }
    let polling = Config.pollers > 0 ? startPollers() : nil
    let measured = readStreams(streams)
    if let polling { polling() }
    let latencies = measured.commit.sorted()
    let appendLatencies = measured.append.sorted()
    let delivered = latencies.count
    Flags.measuring.store(false, ordering: .relaxed)
    Flags.stop.store(true, ordering: .relaxed)
    func pct(_ l: [Int64], _ p: Double) -> Double { l.isEmpty ? 0 : Double(l[min(l.count - 1, Int(Double(l.count) * p))]) / 1e6 }
    emit(String(format: (Config.webSocket ? "khala-ws" : "stream") + " c%d runs%d appended %.0f/s delivered %.0f events/s append-to-client p50 %.3f ms p99 %.3f ms (commit-to-client p50 %.3f ms p99 %.3f ms)",
                 clients, runs, Double(Flags.appended.load(ordering: .relaxed)) / seconds, Double(delivered) / seconds,
                 pct(appendLatencies, 0.5), pct(appendLatencies, 0.99), pct(latencies, 0.5), pct(latencies, 0.99)))
    for fd in streams { close(fd) }
    usleep(500_000)
}
/// POLLERS Khala pollers over the runs, each polling its topic again as soon
/// as its 250 ms guard allows; returns a function that stops them and prints
/// what they saw (polls answered, guard hits, messages received).
func startPollers() -> () -> Void {
    let stop = Atomic<Bool>(false), polls = Atomic<Int>(0), limited = Atomic<Int>(0), messages = Atomic<Int>(0)
    let threads = 8
    let started = Date()
    var done: [DispatchSemaphore] = []
    for t in 0..<threads {
        let finished = DispatchSemaphore(value: 0)
        done.append(finished)
        Thread {
            let mine = Array(stride(from: t, to: Config.pollers, by: threads))
            let fds = mine.map { _ in connectTo(Config.port) }
            let tokens = mine.map { syncToken(device: 100_000 + $0) }
            var cursors = [UInt64](repeating: 0, count: mine.count)
            let next = Array(#""next_cursor":"#.utf8), seqMarker = Array(#""sequence":"#.utf8)
            while !stop.load(ordering: .relaxed) {
                let round = Date()
                for (k, p) in mine.enumerated() {
                    let (status, body) = khalaPoll(fds[k], "run:stream-run-\(p % Config.runs):events", after: cursors[k], token: tokens[k])
                    if status == 200 {
                        polls.add(1, ordering: .relaxed)
                        var n = 0, at = 0
                        while let i = find(body, seqMarker, from: at) { n += 1; at = i + 1 }
                        messages.add(n, ordering: .relaxed)
                        if let i = find(body, next) {
                            let digits = body[(i + next.count)...].prefix { $0 >= 48 && $0 <= 57 }
                            cursors[k] = UInt64(String(decoding: digits, as: UTF8.self)) ?? cursors[k]
                        }
                    } else if status == 429 { limited.add(1, ordering: .relaxed) }
                }
                let wait = 0.26 - Date().timeIntervalSince(round)
                if wait > 0 { usleep(UInt32(wait * 1e6)) }
            }
            for fd in fds { close(fd) }
            finished.signal()
        }.start()
    }
    return {
        stop.store(true, ordering: .relaxed)
        for d in done { d.wait() }
        let secs = Date().timeIntervalSince(started)
        emit(String(format: "khala-poll pollers %d polls %.0f/s guard-429 %.0f/s messages %.0f/s", Config.pollers,
                    Double(polls.load(ordering: .relaxed)) / secs, Double(limited.load(ordering: .relaxed)) / secs, Double(messages.load(ordering: .relaxed)) / secs))
    }
}

/// One poll on a keep-alive connection: status and body.
func khalaPoll(_ fd: Int32, _ topic: String, after: UInt64, token: String) -> (Int, [UInt8]) {
    sendAll(fd, "GET /internal/v1/khala/topics/\(topic)/messages?after_seq=\(after)&limit=200 HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer \(token)\r\n\r\n")
    return readResponse(fd)
}

if clients > 0 { fanOut() }

// MARK: Phase 2: idle stream connections held open

if idle > 0 {
    let setup = connectTo(port)
    for r in 0..<100 { _ = request(setup, "POST", "/internal/v1/runs", #"{"run_id":"idle-run-\#(r)","thread_id":"t"}"#) }
    let reopened = openStreams(idle) { "idle-run-\($0 % 100)" }
    usleep(2_000_000)
    emit((Config.webSocket ? "khala-ws-idle" : "stream-idle") + " \(reopened.count) connections held")
    // Hold them while the caller samples the server's memory.
    usleep(UInt32(Config.hold * 1e6))
    for fd in reopened { close(fd) }
}
