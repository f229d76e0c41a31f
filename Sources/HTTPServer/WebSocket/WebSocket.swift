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
    /// Runs work on the connection's loop thread.
    let onLoop: @Sendable (@escaping @Sendable () -> Void) -> Void
    let stream: AsyncStream<WebSocketEvent>
    let feed: AsyncStream<WebSocketEvent>.Continuation
    let alive = Atomic<Bool>(true)
    /// Where the client's messages go: held until the handler says how it reads
    /// them (the stream, or a receiver on the loop thread), so none is lost or
    /// reordered in between.
    enum Delivery {
        case held([WebSocketEvent])
        case stream
        case receiver(@Sendable (WebSocketEvent) -> Void)
    }
    private let delivery = Mutex<Delivery>(.held([]))
    private let endSignal: AsyncStream<Void>
    private let endFeed: AsyncStream<Void>.Continuation
    static let bufferLimit = 256

    init(sink: @escaping @Sendable ([UInt8]) async -> Bool, post: @escaping @Sendable ([UInt8]) -> Bool, close: @escaping @Sendable (UInt16, String) -> Void,
         onLoop: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void = { $0() }) {
        self.sink = sink
        self.poster = post
        self.closer = close
        self.onLoop = onLoop
        // A client that sends faster than the handler reads loses the oldest
        // surplus, not the server's memory.
        (stream, feed) = AsyncStream.makeStream(of: WebSocketEvent.self, bufferingPolicy: .bufferingNewest(Self.bufferLimit))
        (endSignal, endFeed) = AsyncStream.makeStream(of: Void.self)
    }

    /// Text and binary messages from the client, whole (fragments joined);
    /// finishes when the connection is gone.
    public var incoming: AsyncStream<WebSocketEvent> {
        delivery.withLock { d in
            if case .held(let events) = d {
                for e in events { feed.yield(e) }
                d = .stream
            }
        }
        return stream
    }

    /// Hands each message to `receiver` on the connection's loop thread, in
    /// order, as it is read (instead of `incoming`): a handler that answers
    /// without suspending answers with no thread hop. `receiver` must not block.
    public func receiveOnLoop(_ receiver: @escaping @Sendable (WebSocketEvent) -> Void) {
        onLoop { [self] in
            let held = delivery.withLock { d -> [WebSocketEvent] in
                guard case .held(let events) = d else { return [] }
                d = .receiver(receiver)
                return events
            }
            for e in held { receiver(e) }
        }
    }

    /// Returns when the connection is gone.
    public func ended() async { for await _ in endSignal {} }

    /// A message read by the connection (loop thread).
    func deliver(_ event: WebSocketEvent) {
        let receiver = delivery.withLock { d -> (@Sendable (WebSocketEvent) -> Void)? in
            switch d {
            case .held(var events):
                events.append(event)
                if events.count > Self.bufferLimit { events.removeFirst() }
                d = .held(events)
                return nil
            case .stream:
                feed.yield(event)
                return nil
            case .receiver(let r):
                return r
            }
        }
        receiver?(event)
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

    func finished() {
        alive.store(false, ordering: .relaxed)
        feed.finish()
        endFeed.finish()
    }
}
