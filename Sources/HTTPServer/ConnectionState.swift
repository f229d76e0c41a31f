/// The state of one connection as a value: its lifecycle, the pipeline of
/// requests waiting for their answers in order, and what the socket should be
/// watched for. The transitions return what the connection must do; the
/// connection (which owns the socket and the buffers) carries it out, as
/// swift-nio's `HTTPServerPipelineHandler` does with its `ConnectionState`.
struct ConnectionState {
    enum Lifecycle: Equatable {
        /// Parsing requests as they arrive.
        case active
        /// No more requests: answer those already read, then close (peer
        /// half-closed, `Connection: close`, a malformed request, shutdown).
        case draining
        case closed
    }

    /// One finished request waiting for its turn on the wire.
    struct Answer {
        var response: HTTPResponse
        var request: HTTPRequest
        var start: Double
        var keepAlive: Bool
    }

    /// What the connection must do after a transition.
    enum Action: Equatable {
        case none
        case close
        /// The epoll interest changed (reading paused or resumed, write wanted or not).
        case updateInterest
    }

    private(set) var lifecycle = Lifecycle.active
    /// A server-sent-events response owns the connection until it ends.
    private(set) var streaming = false
    private(set) var readingPaused = false
    private(set) var writeInterest = false
    /// `100 Continue` was sent for the request whose body is awaited.
    var continueSent = false

    private var nextSeq = 0
    private var nextToWrite = 0
    private var ready: [Int: Answer] = [:]

    /// Requests read but not yet answered on the wire.
    var pending: Int { nextSeq - nextToWrite }
    var isClosed: Bool { lifecycle == .closed }
    /// Whether another request may be parsed now.
    func mayParse(maxPipelineDepth: Int) -> Bool { lifecycle == .active && !streaming && pending < maxPipelineDepth }
    /// Nothing in flight (the buffers are the connection's to check).
    var quiet: Bool { pending == 0 && !streaming }
    /// Draining and nothing left to answer: close once the output is flushed.
    var closesWhenFlushed: Bool { lifecycle == .draining && quiet }

    // MARK: Requests and answers

    /// A request was read: its place in the answer order.
    mutating func requestRead() -> Int {
        defer { nextSeq += 1 }
        continueSent = false
        return nextSeq
    }

    mutating func answered(_ seq: Int, _ answer: Answer) {
        guard lifecycle != .closed else { return }
        ready[seq] = answer
    }

    /// The next answer to write, in request order, and whether the connection
    /// closes after it; nil while the next one is not ready or a stream runs.
    mutating func nextAnswer(shuttingDown: Bool) -> (Answer, closeAfter: Bool)? {
        guard !streaming, let answer = ready.removeValue(forKey: nextToWrite) else { return nil }
        nextToWrite += 1
        let close = !answer.keepAlive || shuttingDown || (lifecycle == .draining && pending == 0)
        if close && lifecycle == .active { lifecycle = .draining }
        return (answer, close)
    }

    // MARK: Lifecycle

    /// No more requests will be parsed; what was read is still answered.
    mutating func drain() {
        if lifecycle == .active { lifecycle = .draining }
    }

    /// The client closed its side.
    mutating func peerClosed() -> Action {
        // Nothing owed, or a stream whose reader is gone: close now.
        if quiet || streaming { return .close }
        drain()
        return setReading(false)
    }

    /// A malformed request: its error is the last answer.
    mutating func malformed() { drain() }

    mutating func closed() -> Bool {
        guard lifecycle != .closed else { return false }
        lifecycle = .closed
        streaming = false
        ready.removeAll()
        return true
    }

    // MARK: Streams

    mutating func streamStarted() { streaming = true }

    /// The stream's body ended; true when there was one to end.
    mutating func streamEnded(shuttingDown: Bool) -> Bool {
        guard streaming, lifecycle != .closed else { return false }
        streaming = false
        if shuttingDown { drain() }
        return true
    }

    // MARK: Interest

    mutating func setReading(_ on: Bool) -> Action {
        guard lifecycle != .closed, readingPaused == on else { return .none }
        readingPaused = !on
        return .updateInterest
    }

    mutating func setWriteInterest(_ on: Bool) -> Action {
        guard lifecycle != .closed, writeInterest != on else { return .none }
        writeInterest = on
        return .updateInterest
    }
}
