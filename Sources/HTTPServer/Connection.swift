import CSystem
import Foundation
import Glibc
import Synchronization

/// One client connection, confined to its loop's thread. Requests are parsed
/// as bytes arrive; each gets a sequence number and responses are written in
/// that order (pipelining), whatever order the handlers finish in.
/// Whether a stream's connection can still take bytes (set false by its loop).
final class StreamLiveness: Sendable {
    let flag = Atomic<Bool>(true)
}

final class Connection: @unchecked Sendable {
    let fd: Int32
    unowned let loop: EventLoop
    var server: HTTPServer { loop.server }

    var input: [UInt8] = []
    var inputStart = 0
    var output: [UInt8] = []
    var outputStart = 0
    /// Lifecycle, answer order and socket interest (ConnectionState.swift).
    var state = ConnectionState()
    var closed: Bool { state.isClosed }

    private var headDeadline: Double?
    var lastActivity: Double

    /// Set once the connection was upgraded (WebSocketConnection.swift).
    var webSocket: WebSocketMode?

    init(fd: Int32, loop: EventLoop) {
        self.fd = fd
        self.loop = loop
        lastActivity = loop.now
    }

    var pending: Int { state.pending }
    private var idle: Bool { state.quiet && inputStart >= input.count && outputStart >= output.count }

    /// Carries out what a transition asked for.
    private func perform(_ action: ConnectionState.Action) {
        switch action {
        case .none: break
        case .close: close()
        case .updateInterest: updateInterest()
        }
    }

    // MARK: Reading

    func readable(_ buffer: inout [UInt8]) {
        while !closed {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                input.append(contentsOf: buffer[0..<n])
                lastActivity = loop.now
                if n < buffer.count { break }
            } else if n == 0 {
                peerClosed()
                return
            } else {
                if errno == EAGAIN || errno == EWOULDBLOCK { break }
                if errno == EINTR { continue }
                close()
                return
            }
        }
        process()
    }

    /// The client closed its side: finish what was asked, then close.
    private func peerClosed() { perform(state.peerClosed()) }

    private func updateInterest() {
        var events: UInt32 = EPOLLRDHUP.rawValue
        if !state.readingPaused { events |= EPOLLIN.rawValue }
        if state.writeInterest { events |= EPOLLOUT.rawValue }
        loop.modify(fd: fd, events: events)
    }

    // MARK: Parsing and dispatch

    func process() {
        if webSocket != nil { processWebSocket(); return }
        while state.mayParse(maxPipelineDepth: server.config.maxPipelineDepth) {
            if inputStart >= input.count { headDeadline = nil; break }
            let head: RequestHead
            let bodyStart: Int
            do {
                guard let (h, end) = try HTTPParser.parseHead(input, from: inputStart, limits: server.config.limits) else {
                    if headDeadline == nil { headDeadline = loop.now + server.config.headerTimeout }
                    break
                }
                head = h
                bodyStart = end
            } catch {
                fail(error)
                return
            }
            var body: [UInt8] = []
            var consumed = bodyStart
            do {
                switch head.framing {
                case .none: break
                case .length(let n):
                    guard input.count - bodyStart >= n else { waitForBody(head); return }
                    body = Array(input[bodyStart..<(bodyStart + n)])
                    consumed = bodyStart + n
                case .chunked:
                    guard let (b, end) = try HTTPParser.parseChunked(input, from: bodyStart, limits: server.config.limits) else { waitForBody(head); return }
                    body = b
                    consumed = end
                }
            } catch {
                fail(error)
                return
            }
            inputStart = consumed
            headDeadline = nil
            if inputStart > 64 * 1024 || inputStart == input.count {
                input.removeFirst(inputStart)
                inputStart = 0
            }
            dispatch(head, body: body)
        }
        if pending >= server.config.maxPipelineDepth { perform(state.setReading(false)) }
    }

    /// Head parsed, body incomplete: answer `Expect: 100-continue` once, and
    /// keep the slow-loris clock running for the body.
    private func waitForBody(_ head: RequestHead) {
        if headDeadline == nil { headDeadline = loop.now + server.config.headerTimeout }
        if head.expectContinue && !state.continueSent && pending == 0 {
            state.continueSent = true
            output.append(contentsOf: Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
            flush()
        }
    }

    private func fail(_ error: HTTPParseError) {
        state.malformed()
        var request = HTTPRequest(method: "-", target: "-", path: "-", query: "", version: 11, headers: HTTPHeaders(), body: [])
        request.requestID = randomHex(8)
        request.route = "-"
        let seq = state.requestRead()
        state.answered(seq, .init(response: server.errors.failure(HTTPFailure(error.status, HTTPFailure.code(for: error.status), error.message)),
                                  request: request, start: loop.now, keepAlive: false))
        server.logger.log(.warn, "bad request", ["status": "\(error.status)", "error": error.message])
        writeReady()
    }

    private func dispatch(_ head: RequestHead, body: [UInt8]) {
        let seq = state.requestRead()
        let start = loop.now
        let target = head.target
        let q = target.firstIndex(of: "?")
        var request = HTTPRequest(method: head.method, target: target, path: q.map { String(target[..<$0]) } ?? target,
                                  query: q.map { String(target[target.index(after: $0)...]) } ?? "", version: head.version, headers: head.headers, body: body)
        decorate(&request)
        let keepAlive = head.keepAlive && !server.shuttingDown.load(ordering: .relaxed)
        switch server.router.match(method: head.method, path: request.path) {
        case .notFound:
            request.route = "unmatched"
            complete(seq, server.errors.failure(HTTPFailure(404, "not_found", "no route for \(request.path)")), request, start, keepAlive)
        case .methodNotAllowed(let allow):
            request.route = "unmatched"
            complete(seq, server.errors.failure(HTTPFailure(405, "invalid_request", "method \(head.method) not allowed", headers: [("allow", allow.joined(separator: ", "))])), request, start, keepAlive)
        case .found(let handler, let params, let pattern):
            request.params = params
            request.route = pattern
            server.metrics.inFlight.add(1, ordering: .relaxed)
            switch handler {
            case .sync(let h):
                let response: HTTPResponse
                do { response = try h(request) } catch { response = Connection.errorResponse(error, server) }
                server.metrics.inFlight.subtract(1, ordering: .relaxed)
                complete(seq, response, request, start, keepAlive)
            case .async(let h):
                // The task starts on this thread: a handler that never suspends
                // (a read, a health probe) finishes before `Task.immediate`
                // returns and is answered inline, with no hop through the loop's
                // wake-up; one that suspends is answered through the loop.
                let req = request
                let loop = self.loop
                let server = self.server
                let handoff = InlineHandoff()
                Task.immediate {
                    let response: HTTPResponse
                    do { response = try await h(req) } catch { response = Connection.errorResponse(error, server) }
                    server.metrics.inFlight.subtract(1, ordering: .relaxed)
                    if !handoff.finishInline(response) {
                        loop.execute { [self] in self.complete(seq, response, req, start, keepAlive) }
                    }
                }
                if let response = handoff.dispatcherReturned() { complete(seq, response, request, start, keepAlive) }
            }
        }
    }

    static func errorResponse(_ error: Error, _ server: HTTPServer) -> HTTPResponse {
        if let e = error as? any HTTPResponseError { return e.response }
        if let f = error as? HTTPFailure { return server.errors.failure(f) }
        server.logger.log(.error, "handler failed", ["error": "\(error)"])
        return server.errors.failure(HTTPFailure(500, "internal_error", "internal error"))
    }

    /// Request id (echoed when sane, else generated) and W3C trace context.
    private func decorate(_ r: inout HTTPRequest) { r.decorate(ids: &loop.ids) }

    // MARK: Responses

    func complete(_ seq: Int, _ response: HTTPResponse, _ request: HTTPRequest, _ start: Double, _ keepAlive: Bool) {
        guard !closed else { return }
        state.answered(seq, .init(response: response, request: request, start: start, keepAlive: keepAlive))
        writeReady()
    }

    private func writeReady() {
        while let (answer, close) = state.nextAnswer(shuttingDown: server.shuttingDown.load(ordering: .relaxed)) {
            let response = answer.response, request = answer.request, start = answer.start
            serialize(response, request, keepAlive: !close)
            let seconds = loop.now - start
            server.metrics.record(route: request.route, method: request.method, status: response.status, seconds: seconds)
            if server.logger.minimum <= .debug || response.status >= 500 {
                server.logger.log(response.status >= 500 ? .error : .debug, "request", [
                    "method": request.method, "path": request.path, "route": request.route, "status": "\(response.status)",
                    "duration_ms": String(format: "%.3f", seconds * 1000), "request_id": request.requestID, "trace_id": request.trace.traceID,
                ])
            }
            if case .eventStream(let run) = response.body {
                startStream(run)
                break
            }
            if case .webSocket(let run) = response.body {
                startWebSocket(run)
                break
            }
            if close { break }
        }
        flush()
        if state.readingPaused && state.lifecycle == .active && pending < server.config.maxPipelineDepth { perform(state.setReading(true)); process() }
        else if state.mayParse(maxPipelineDepth: .max) && inputStart < input.count { process() }
    }

    private func serialize(_ r: HTTPResponse, _ request: HTTPRequest, keepAlive: Bool) {
        var head = "HTTP/1.1 \(r.status) \(StatusText.of(r.status))\r\n"
        var hasType = false
        for (name, value) in r.headers {
            if name.caseInsensitiveEquals("content-type") { hasType = true }
            head += "\(name): \(value)\r\n"
        }
        head += "date: \(loop.dateHeader)\r\nx-request-id: \(request.requestID)\r\n"
        if !request.trace.traceID.isEmpty {
            head += "traceparent: \(request.trace.traceparent)\r\n"
            if let state = request.trace.state { head += "tracestate: \(state)\r\n" }
        }
        switch r.body {
        case .bytes(let body):
            if !hasType && !body.isEmpty { head += "content-type: application/octet-stream\r\n" }
            head += "content-length: \(body.count)\r\n"
            if !keepAlive { head += "connection: close\r\n" } else if request.version == 10 { head += "connection: keep-alive\r\n" }
            head += "\r\n"
            output.append(contentsOf: head.utf8)
            if request.method != "HEAD" { output.append(contentsOf: body) }
        case .webSocket:
            head += "\r\n"
            output.append(contentsOf: head.utf8)
        case .eventStream:
            head += "transfer-encoding: chunked\r\n"
            if !keepAlive { head += "connection: close\r\n" }
            head += "\r\n"
            output.append(contentsOf: head.utf8)
        }
    }

    // MARK: Streaming (server-sent events)

    private func startStream(_ run: @escaping @Sendable (EventStreamWriter) async -> Void) {
        state.streamStarted()
        let loop = self.loop
        let alive = StreamLiveness()
        let writer = EventStreamWriter(sink: { [self] bytes in
            await withCheckedContinuation { (cont: CheckedContinuation<Bool, Never>) in
                loop.execute {
                    let ok = self.enqueueChunk(bytes)
                    if !ok { alive.flag.store(false, ordering: .relaxed) }
                    cont.resume(returning: ok)
                }
            }
        }, post: { [self] bytes in
            guard alive.flag.load(ordering: .relaxed) else { return false }
            loop.execute { if !self.enqueueChunk(bytes) { alive.flag.store(false, ordering: .relaxed) } }
            return true
        })
        server.metrics.inFlight.add(1, ordering: .relaxed)
        let server = self.server
        Task {
            await run(writer)
            server.metrics.inFlight.subtract(1, ordering: .relaxed)
            loop.execute { [self] in self.finishStream() }
        }
    }

    /// Appends one chunk; false when the client is gone or too far behind (then it is dropped).
    private func enqueueChunk(_ bytes: [UInt8]) -> Bool {
        guard !closed, state.streaming, !droppedAsSlow("stream") else { return false }
        output.append(contentsOf: Array(String(bytes.count, radix: 16).utf8))
        output.append(0x0D); output.append(0x0A)
        output.append(contentsOf: bytes)
        output.append(0x0D); output.append(0x0A)
        flush()
        return !closed
    }

    /// A streaming reader (SSE or WebSocket) more than the buffer limit behind is dropped, never buffered further.
    func droppedAsSlow(_ kind: String) -> Bool {
        guard output.count - outputStart > server.config.streamBufferLimit else { return false }
        server.logger.log(.warn, "slow \(kind) reader dropped", ["buffered": "\(output.count - outputStart)"])
        close()
        return true
    }

    private func finishStream() {
        guard state.streamEnded(shuttingDown: server.shuttingDown.load(ordering: .relaxed)) else { return }
        output.append(contentsOf: Array("0\r\n\r\n".utf8))
        writeReady()
    }

    // MARK: Writing and closing

    func flush() {
        while outputStart < output.count && !closed {
            let n = output.withUnsafeBytes { write(fd, $0.baseAddress! + outputStart, output.count - outputStart) }
            if n > 0 {
                outputStart += n
                lastActivity = loop.now
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                perform(state.setWriteInterest(true))
                return
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                close()
                return
            }
        }
        if closed { return }
        output.removeAll(keepingCapacity: output.count < 256 * 1024)
        outputStart = 0
        perform(state.setWriteInterest(false))
        if state.closesWhenFlushed || webSocket?.closeWhenFlushed == true { close() }
    }

    func checkTimeouts() {
        guard !closed else { return }
        if let d = webSocket?.closeDeadline, loop.now > d { close(); return }
        if let d = headDeadline, loop.now > d, !state.streaming {
            headDeadline = nil
            fail(HTTPParseError(status: 408, message: "request not received within \(server.config.headerTimeout) s"))
            return
        }
        if idle && loop.now - lastActivity > server.config.idleTimeout { close() }
    }

    func rejectWhileBusy() {
        state.drain()
        var request = HTTPRequest(method: "-", target: "-", path: "-", query: "", version: 11, headers: HTTPHeaders(), body: [])
        request.requestID = randomHex(8)
        let seq = state.requestRead()
        state.answered(seq, .init(response: server.errors.failure(HTTPFailure(503, "service_unavailable", "server is at its connection limit or shutting down")),
                                  request: request, start: loop.now, keepAlive: false))
        writeReady()
    }

    /// Shutdown, first pass: an idle connection closes now; one with bytes
    /// still to write closes once they are out; answers owed are still written.
    func closeIfIdle() {
        if idle { close() } else if state.quiet { state.drain() }
    }

    /// Shutdown: a stream gets its final chunk, everything else is closed.
    func shutdownClose() {
        if webSocket != nil {
            sendClose(WebSocketCloseCode.goingAway, "server shutting down", thenClose: true)
            if !closed { close() }
            return
        }
        if state.streamEnded(shuttingDown: true) {
            output.append(contentsOf: Array("0\r\n\r\n".utf8))
            flush()
        }
        if !closed { close() }
    }

    func close() {
        guard state.closed() else { return }
        webSocket?.session?.finished()
        epoll_ctl(loop.epfd, EPOLL_CTL_DEL, fd, nil)
        Glibc.close(fd)
        loop.removed(fd)
    }
}

/// Who answers an async handler's request: the dispatcher, when the task
/// finished before `Task.immediate` returned (no suspension), or the task,
/// through the loop, when it suspended. One compare-and-swap decides.
final class InlineHandoff: @unchecked Sendable {
    private let state = Atomic<Int>(0)  // 0 running, 1 dispatcher returned, 2 finished inline
    private var response: HTTPResponse?

    /// The task's side: true when the dispatcher will answer (it has not returned yet).
    func finishInline(_ r: HTTPResponse) -> Bool {
        response = r
        return state.compareExchange(expected: 0, desired: 2, ordering: .acquiringAndReleasing).exchanged
    }

    /// The dispatcher's side, right after `Task.immediate` returns: the response if the task already finished.
    func dispatcherReturned() -> HTTPResponse? {
        if state.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged { return nil }
        return response
    }
}
