import Synchronization

/// The handler's side of an upgraded connection. The connection's loop owns
/// the socket: it answers pings, runs the close handshake and closes on a
/// protocol violation with the RFC's code; the handler sends messages and
/// reads the client's from `incoming`, which finishes when the connection is
/// gone. A reader that falls more than the server's stream buffer limit
/// behind is dropped, never buffered without bound: sends return false then.
public final class WebSocket: Sendable {
    let sink: @Sendable ([UInt8]) async -> Bool
    let poster: @Sendable ([UInt8]) -> Bool
    let closer: @Sendable (UInt16, String) -> Void
    /// Text and binary messages from the client, whole (fragments joined).
    public let incoming: AsyncStream<WebSocketEvent>
    let feed: AsyncStream<WebSocketEvent>.Continuation
    let alive = Atomic<Bool>(true)

    init(sink: @escaping @Sendable ([UInt8]) async -> Bool, post: @escaping @Sendable ([UInt8]) -> Bool, close: @escaping @Sendable (UInt16, String) -> Void) {
        self.sink = sink
        self.poster = post
        self.closer = close
        // A client that sends faster than the handler reads loses the oldest
        // surplus, not the server's memory.
        (incoming, feed) = AsyncStream.makeStream(of: WebSocketEvent.self, bufferingPolicy: .bufferingNewest(256))
    }

    public var isOpen: Bool { alive.load(ordering: .relaxed) }

    /// Sends one text message, waiting until the connection took the bytes.
    public func send(text: String) async -> Bool {
        guard isOpen else { return false }
        return await sink(WebSocketEncoder.frame(.text, Array(text.utf8)))
    }

    public func send(binary: [UInt8]) async -> Bool {
        guard isOpen else { return false }
        return await sink(WebSocketEncoder.frame(.binary, binary))
    }

    /// Frames already encoded, waiting until the connection took them.
    public func send(frames: [UInt8]) async -> Bool {
        guard isOpen else { return false }
        return await sink(frames)
    }

    /// Frames already encoded (one or more), posted without waiting: a hub
    /// writing to many sockets from one thread uses this.
    public func post(frames: [UInt8]) -> Bool {
        guard isOpen else { return false }
        return poster(frames)
    }

    /// Starts the close handshake with `code`; further sends return false.
    public func close(code: UInt16 = WebSocketCloseCode.normal, reason: String = "") {
        guard alive.exchange(false, ordering: .relaxed) else { return }
        closer(code, reason)
    }

    func ended() {
        alive.store(false, ordering: .relaxed)
        feed.finish()
    }
}
