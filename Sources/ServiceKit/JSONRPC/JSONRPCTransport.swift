import APIRuntime
import Foundation
import Generated
import HTTPServer
import ProtoWire
import Synchronization

/// The two transports of a JSON-RPC surface: an HTTP POST (one body, one
/// answer, no server notifications) and a WebSocket (one message or batch per
/// text frame each way, server notifications on the same socket).
public enum JSONRPCTransport {
    /// An HTTP POST's answer: 200 with the response (or batch), 204 when only
    /// notifications were sent. A body that is not JSON-typed is a 415; a
    /// body that is not JSON is the protocol's own parse error.
    public static func post(_ body: ApiV1.HttpBody, transport: RequestContext, dispatcher: JSONRPCDispatcher) async throws -> APIResponse<ApiV1.HttpBody> {
        let hooks = JSONRPCAfterAnswer()
        defer { hooks.run() }
        return try await post(body) { r in await dispatcher.handle(r, transport: transport, connection: nil, hooks: hooks) }
    }

    /// `post` over any request handler (the specification's examples use their own methods).
    public static func post(_ body: ApiV1.HttpBody, _ handle: (JSONRPC.Request) async -> Result<[UInt8], JSONRPC.ErrorObject>) async throws -> APIResponse<ApiV1.HttpBody> {
        let type = body.contentType.split(separator: ";").first.map { $0.whitespaceTrimmed.lowercased() } ?? ""
        guard type.isEmpty || type == "application/json" || type == "application/json-rpc" else {
            throw ServiceError(415, "invalid_request", "a JSON-RPC body is application/json, not \(type)")
        }
        let out = await JSONRPC.serve(body.data, handle)
        var answer = ApiV1.HttpBody()
        guard let out else { return APIResponse(answer, status: 204) }
        answer.contentType = "application/json"
        answer.data = out
        return APIResponse(answer)
    }

    /// The WebSocket of a generated `(route).websocket` stream, for a lane
    /// that reads the client's messages too.
    public static func socket(of sink: any StreamSink) -> WebSocket? { (sink as? WebSocketSink)?.socket }
}

/// One JSON-RPC WebSocket. Messages are answered concurrently (up to
/// `maxInFlight`; beyond that a call is refused at once with -32000, never
/// dropped), so one slow call does not hold the others; answers carry their
/// ids, as JSON-RPC allows. `opening`, when set, must be the first method
/// (the registry's initialize): the rule is checked in arrival order, before
/// any call runs, so a pipelined initialize-then-call works.
public final class JSONRPCSocket: JSONRPCConnection {
    /// Answers one request of this socket; the hooks run after its answer is sent.
    public typealias Handle = @Sendable (JSONRPC.Request, JSONRPCSocket, JSONRPCAfterAnswer) async -> Result<[UInt8], JSONRPC.ErrorObject>
    public let id: String
    let socket: WebSocket
    let handle: Handle
    let opening: String?
    let maxInFlight: Int
    private let opened = Atomic<Bool>(false)
    private let inFlight = Atomic<Int>(0)
    private let closeHandlers = Mutex<[@Sendable () -> Void]?>([])

    public static let notOpened = -32000
    public static let overloaded = -32000

    public convenience init(socket: WebSocket, dispatcher: JSONRPCDispatcher, transport: RequestContext, opening: String?, maxInFlight: Int = 64) {
        self.init(socket: socket, opening: opening, maxInFlight: maxInFlight) { r, connection, hooks in
            await dispatcher.handle(r, transport: transport, connection: connection, hooks: hooks)
        }
    }

    public init(socket: WebSocket, opening: String?, maxInFlight: Int = 64, handle: @escaping Handle) {
        id = "ws_" + UUID().uuidString.lowercased()
        self.socket = socket
        self.handle = handle
        self.opening = opening
        self.maxInFlight = maxInFlight
    }

    public var isOpen: Bool { socket.isOpen }

    public func notify(_ method: JSONRPCMethodDescriptor, _ params: some ProtoMessage) -> Bool {
        guard let bytes = try? params.jsonBytes(options: JSONRPCDispatcher.resultEncoding) else { return false }
        return socket.post(frames: WebSocketEncoder.frame(.text, JSONRPC.notification(method: method.name, params: bytes)))
    }

    public func onClose(_ body: @escaping @Sendable () -> Void) {
        let registered = closeHandlers.withLock { h -> Bool in
            guard h != nil else { return false }
            h?.append(body)
            return true
        }
        if !registered { body() }
    }

    public func close() { socket.close() }

    /// Reads until the client leaves; then runs the close handlers (watches stop).
    /// Messages are taken on the connection's loop thread as they are read.
    public func run() async {
        socket.receiveOnLoop { [self] event in
            switch event {
            case .text(let text): receive(Array(text.utf8))
            case .binary:
                _ = socket.post(frames: WebSocketEncoder.frame(.text, JSONRPC.response(id: JSONRPC.null, error: .invalidRequest("send JSON-RPC messages as text frames"))))
            default: break
            }
        }
        await socket.ended()
        for h in closeHandlers.withLock({ h -> [@Sendable () -> Void] in defer { h = nil }; return h ?? [] }) { h() }
    }

    /// One text frame: admitted in arrival order, answered on its own task.
    func receive(_ bytes: [UInt8]) {
        var parsed = JSONRPC.parse(bytes)
        func admit(_ r: JSONRPC.Request) -> JSONRPC.ErrorObject? {
            guard let opening, !opened.load(ordering: .relaxed) else { return nil }
            if r.method == opening { opened.store(true, ordering: .relaxed); return nil }
            return JSONRPC.ErrorObject(Self.notOpened, "Not initialized", data: Array("{\"method\":\(jsonQuote(r.method)),\"first\":\(jsonQuote(opening))}".utf8))
        }
        // A request refused by the opening rule is answered with its error; a refused notification with nothing.
        func mark(_ item: Result<JSONRPC.Request, JSONRPC.Refusal>) -> Result<JSONRPC.Request, JSONRPC.Refusal> {
            guard case .success(let r) = item, let e = admit(r) else { return item }
            guard let id = r.id else { return .success(JSONRPC.Request(id: nil, method: "\u{0}refused", params: nil)) }
            return .failure(JSONRPC.Refusal(id: id, error: e))
        }
        switch parsed {
        case .single(let item): parsed = .single(mark(item))
        case .batch(let items): parsed = .batch(items.map(mark))
        case .unparsable: break
        }
        let admitted = parsed
        guard inFlight.add(1, ordering: .relaxed).newValue <= maxInFlight else {
            inFlight.subtract(1, ordering: .relaxed)
            let busy = JSONRPC.ErrorObject(Self.overloaded, "Too many calls in flight", data: Array("{\"max_in_flight\":\(maxInFlight)}".utf8))
            Task.immediate { [self] in
                if let out = await JSONRPC.answer(admitted, { _ in .failure(busy) }) { _ = socket.post(frames: WebSocketEncoder.frame(.text, out)) }
            }
            return
        }
        // Started on the loop thread that read the frame: a call that never suspends
        // (initialize, a refused call) is answered before the next frame is read, with
        // no thread hop; one that suspends (a runtime call) resumes off the loop.
        Task.immediate { [self] in
            defer { inFlight.subtract(1, ordering: .relaxed) }
            let hooks = JSONRPCAfterAnswer()
            let out = await JSONRPC.answer(admitted) { r in
                if r.method == "\u{0}refused" { return .success(JSONRPC.null) }  // a refused notification: no answer
                return await handle(r, self, hooks)
            }
            // Posted, not awaited: the loop writes it in order after anything queued before; a
            // reader that leaves its answers unread beyond the stream buffer limit is dropped as slow.
            if let out { _ = socket.post(frames: WebSocketEncoder.frame(.text, out)) }
            hooks.run()
        }
    }
}
