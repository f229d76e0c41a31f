import Glibc

/// What an upgraded connection keeps: the frame parser, the handler's
/// session, and where the close handshake stands.
struct WebSocketMode {
    var parser: WebSocketParser
    var session: WebSocket?
    /// Our close frame is queued; nothing but the handshake's end follows it.
    var closeSent = false
    /// Close the socket once the output is flushed (after a violation, or
    /// once both sides sent their close frames).
    var closeWhenFlushed = false
    /// Close even if the peer never answers our close frame.
    var closeDeadline: Double?
}

extension Connection {
    /// Ends HTTP on this connection: from here bytes are frames. The handler
    /// runs as a task; what it sends is posted to this loop.
    func startWebSocket(_ run: @escaping @Sendable (WebSocket) async -> Void) {
        state.streamStarted()
        let loop = self.loop
        let session = WebSocket(sink: { [self] bytes in
            await withCheckedContinuation { (cont: CheckedContinuation<Bool, Never>) in
                loop.execute { cont.resume(returning: self.enqueueFrames(bytes)) }
            }
        }, post: { [self] bytes in
            loop.executeSoon { _ = self.enqueueFrames(bytes) }
            return true
        }, close: { [self] code, reason in
            loop.executeSoon { self.sendClose(code, reason, thenClose: false) }
        }, onLoop: { work in loop.executeSoon(work) })
        webSocket = WebSocketMode(parser: WebSocketParser(maxMessageBytes: server.config.webSocketMaxMessageBytes), session: session)
        server.metrics.inFlight.add(1, ordering: .relaxed)
        let server = self.server
        Task {
            await run(session)
            server.metrics.inFlight.subtract(1, ordering: .relaxed)
            loop.execute { [self] in self.sendClose(WebSocketCloseCode.normal, "", thenClose: false) }
        }
        // Frames the client sent right behind its handshake.
        if inputStart < input.count { processWebSocket() }
    }

    func processWebSocket() {
        guard var mode = webSocket else { return }
        defer { if !closed { webSocket = mode } }
        while !closed && !mode.closeWhenFlushed {
            let result: (event: WebSocketEvent?, end: Int)?
            do { result = try mode.parser.next(input, from: inputStart) } catch {
                webSocket = mode
                sendClose(error.code, error.reason, thenClose: true)
                mode = webSocket ?? mode
                server.logger.log(.debug, "websocket protocol violation", ["code": "\(error.code)", "reason": error.reason])
                break
            }
            guard let (event, end) = result else { break }
            inputStart = end
            switch event {
            case .ping(let payload)?:
                if !mode.closeSent { output += WebSocketEncoder.frame(.pong, payload) }
            case .pong?, nil:
                break
            case .close(let code, _)?:
                // Echo the peer's code (none when it sent none), then close once it is out.
                if !mode.closeSent {
                    output += code.map { WebSocketEncoder.close($0, "") } ?? WebSocketEncoder.frame(.close, [])
                    mode.closeSent = true
                }
                mode.closeWhenFlushed = true
                mode.session?.finished()
            case let message?:
                mode.session?.deliver(message)
            }
        }
        if inputStart > 64 * 1024 || inputStart == input.count {
            input.removeFirst(inputStart)
            inputStart = 0
        }
        webSocket = mode
        flush()
    }

    /// Queues our close frame once; `thenClose` closes as soon as it is out
    /// (a violation: the RFC lets the endpoint drop the connection), otherwise
    /// the peer has two seconds to answer with its own.
    func sendClose(_ code: UInt16, _ reason: String, thenClose: Bool) {
        guard !closed, var mode = webSocket else { return }
        if !mode.closeSent {
            output += WebSocketEncoder.close(code, reason)
            mode.closeSent = true
        }
        if thenClose { mode.closeWhenFlushed = true } else if mode.closeDeadline == nil { mode.closeDeadline = loop.now + 2 }
        mode.session?.finished()
        webSocket = mode
        flush()
    }

    /// Queues frames from the handler; false once the connection is gone, is
    /// closing, or the reader is over the buffer limit (then it is dropped).
    func enqueueFrames(_ bytes: [UInt8]) -> Bool {
        guard !closed, let mode = webSocket, !mode.closeSent, !droppedAsSlow("websocket") else { return false }
        output += bytes
        flush()
        return !closed
    }
}
